"""The Kafka broker stops and starts again mid-run. This test runs its own broker (ports 19192 and
19193, a data directory of its own): the shared one on 19092 is never touched. Telemetry keeps
being produced while the broker is down; afterwards every point is in the detection state
exactly once and the worker never died."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from setpoint.streams.admin import delete_topics, ensure_topics
from tests.integration.conftest import (
    ROOT,
    Processes,
    deployment,
    settings_from,
    wait_for,
    worker_status,
)
from tests.integration.load import (
    INSTANCES,
    METRICS_PER_SERVICE,
    committed_all,
    publish,
    series_counts,
    services,
)

PORT, CONTROLLER = "19192", "19193"


class Broker:
    def __init__(self, data: Path) -> None:
        self.env = {**os.environ, "SETPOINT_KAFKA_PORT": PORT,
                    "SETPOINT_KAFKA_CONTROLLER_PORT": CONTROLLER,
                    "SETPOINT_KAFKA_DATA": str(data)}  # fmt: skip

    def run(self, what: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "deploy/local/kafka.sh"), what], env=self.env,
                              capture_output=True, text=True, timeout=180, check=False)  # fmt: skip


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "kafka")
    started = broker.run("start")
    if started.returncode != 0:
        msg = f"the test's own broker did not start: {started.stdout[-500:]}{started.stderr[-500:]}"
        if os.environ.get("SETPOINT_REQUIRE_INFRA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    yield broker
    broker.run("stop")


def test_a_broker_restart_mid_run_loses_nothing_and_applies_nothing_twice(  # type: ignore[no-untyped-def]
    own_broker, tmp_path
) -> None:
    env = {
        **deployment(f"127.0.0.1:{PORT}", tmp_path),
        "SETPOINT_AGENTS": "detect",
        "SETPOINT_CHECKPOINT_INTERVAL_S": "1",
        "SETPOINT_STATUS_INTERVAL_S": "0.25",
    }
    settings = settings_from(env)
    ensure_topics(settings)
    procs = Processes(env, tmp_path)
    try:
        procs.start("w1", "worker", SETPOINT_WORKER_ID="w1")
        wait_for(lambda: worker_status(env, "w1").get("keepers", {}).get("detect", {})
                 .get("ready"), 60, "the worker")  # fmt: skip
        names = services(12)
        publish(env, names, range(0, 150), rate_per_s=400)
        # Producers keep going while the broker is away (they buffer and retry).
        during = threading.Thread(target=publish, args=(env, names, range(150, 300), 100))
        during.start()
        time.sleep(1.0)
        assert own_broker.run("stop").returncode == 0
        time.sleep(8.0)
        assert own_broker.run("start").returncode == 0
        during.join(timeout=240)
        assert not during.is_alive()
        publish(env, names, range(300, 450), rate_per_s=400)
        wait_for(lambda: committed_all(env), 180, "the group to commit every message")
        assert procs.procs["w1"].poll() is None, "the worker survived the broker's restart"
        procs.stop_all()
        counts = series_counts(env)
        want = {f"{m}@i-{i}": 450 for m in METRICS_PER_SERVICE for i in range(INSTANCES)}
        metric = {s: {k: n for k, n in c.items() if "@" in k} for s, c in counts.items()}
        wrong = {s: sorted(set(c.values())) for s, c in metric.items() if c != want}
        assert sorted(counts) == names and not wrong, wrong
        assert "Traceback" not in procs.log("w1")
    finally:
        procs.stop_all()
        delete_topics(settings)
