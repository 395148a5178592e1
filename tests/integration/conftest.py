"""Integration fixtures: a real Kafka broker (started by deploy/local/kafka.sh) and a real
ClickHouse engine (chdb, in this process). Each test gets fresh topics, consumer groups and data
directory. Where the broker is missing the tests skip locally, but fail when
SETPOINT_REQUIRE_INFRA=1 (``make test`` and CI set it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from setpoint.errors import BrokerError
from setpoint.ledger import LedgerStore
from setpoint.settings import Settings
from setpoint.streams.admin import delete_topics, ensure_topics, wait_for_broker
from setpoint.streams.sink import LedgerSink
from setpoint.streams.topics import TopicSpec, full_name

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker() -> str:
    servers = os.environ.get("SETPOINT_BROKER", "127.0.0.1:19092")
    try:
        wait_for_broker(Settings(broker=servers), timeout_s=15)
    except BrokerError as exc:
        if os.environ.get("SETPOINT_REQUIRE_INFRA") == "1":
            pytest.fail(f"Kafka is required but not reachable: {exc}")
        pytest.skip(f"no Kafka broker ({exc}); run deploy/local/kafka.sh start")
    return servers


@pytest.fixture
def env(broker: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment of a fresh, isolated Setpoint deployment (topics, groups, data dir)."""
    values = deployment(broker, tmp_path)
    settings = settings_from(values)
    ensure_topics(settings)
    yield values
    delete_topics(settings)


def deployment(broker: str, tmp_path: Path) -> dict[str, str]:
    """The settings of a fresh deployment on ``broker``: its own topic prefix, group and data."""
    run = uuid.uuid4().hex[:10]
    return {
        "SETPOINT_BROKER": broker,
        "SETPOINT_TOPIC_PREFIX": f"it.{run}.",
        "SETPOINT_APP_ID": f"it-{run}",
        "SETPOINT_DATA_DIR": str(tmp_path / "data"),
        "SETPOINT_POLICY_PATH": str(ROOT / "config" / "policy.yaml"),
        "SETPOINT_TOPOLOGY_PATH": str(ROOT / "config" / "topology.yaml"),
        "SETPOINT_SIGNING_KEY": "integration-test-key",
        "SETPOINT_PARTITIONS": "2",
    }


def settings_from(values: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Processes:
    """Real ``setpoint`` processes started for one test, stopped (and their logs kept) after."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = {**os.environ, **env}
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        with (self.logdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "setpoint.cli", *args],
                env={**self.env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()


@pytest.fixture
def procs(env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    p = Processes(env, tmp_path)
    yield p
    p.stop_all()


class SinkThread:
    """The ledger sink running in this process (chdb allows one process per data path), so the
    test can query the same embedded ClickHouse."""

    def __init__(self, settings: Settings) -> None:
        self.store = LedgerStore(settings.resolved_ledger_dsn(), settings.ledger_database)
        self.store.migrate()
        self.sink = LedgerSink(settings, self.store, batch_wait_s=0.2)
        self.thread = threading.Thread(target=self.sink.run, daemon=True)

    def start(self) -> SinkThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.sink.stop()
        self.thread.join(timeout=30)

    def rows(self, where: str = "1", params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        res = self.store.query(
            f"SELECT * FROM setpoint.ledger WHERE {where} ORDER BY ts, seq", params
        )
        return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


@pytest.fixture
def sink(env: dict[str, str]) -> Iterator[SinkThread]:
    s = SinkThread(settings_from(env)).start()
    yield s
    s.stop()
    s.store.close()


def producer(env: dict[str, str]) -> Producer:
    return Producer({"bootstrap.servers": env["SETPOINT_BROKER"], "partitioner": "murmur2_random"})


def topic(env: dict[str, str], spec: TopicSpec) -> str:
    return full_name(env["SETPOINT_TOPIC_PREFIX"], spec)


def consume_all(env: dict[str, str], spec: TopicSpec, timeout_s: float = 5.0) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": env["SETPOINT_BROKER"],
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic(env, spec)])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error() and m.value() is not None:
            out.append(m.value())  # type: ignore[arg-type]
    c.close()
    return out


def wait_for(cond: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    """Poll ``cond`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


def worker_status(env: dict[str, str], worker: str) -> dict[str, Any]:
    """The status file ``setpoint worker`` writes every second (empty before the first)."""
    path = Path(env["SETPOINT_DATA_DIR"]) / "status" / f"{worker}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data
