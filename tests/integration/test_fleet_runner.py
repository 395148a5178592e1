"""The live fleet against a real Kafka broker (``deploy/local/kafka.sh start``): telemetry arrives
on its topics keyed by service, and ``POST /actions`` changes the fleet. Fresh topics per run;
every wait bounded. Skips when the broker is down, except in CI, where it fails."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from setpoint.schemas import LogEvent, MetricBatch
from setpoint.settings import Settings
from setpoint.sim.runner import ROUTES, FleetRunner
from setpoint.sim.scenario import Scenario
from setpoint.streams.topics import full_name

pytestmark = pytest.mark.integration

_SCENARIO = {
    "name": "it-cache", "duration_s": 3600,
    "fleet": {"services": {"web": {"entry_rps": 50, "depends_on": ["api"]},
                           "api": {"cache": True}}},
    "timeline": [{"fault": "poisoned_cache", "service": "api", "at": 30,
                  "expect": {"root": "api", "fault_class": "poisoned_cache",
                             "fixed_by": ["flush_cache"]}}],
}  # fmt: skip


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    s = Settings(topic_prefix=f"it-fleet-{uuid.uuid4().hex[:8]}.", fleet_url="http://127.0.0.1:0")
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap()})
    try:
        admin.list_topics(timeout=5.0)
    except KafkaException as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no Kafka broker at {s.kafka_bootstrap()}: {exc}")
        pytest.skip(f"no Kafka broker at {s.kafka_bootstrap()} (deploy/local/kafka.sh start)")
    names = sorted({full_name(s.topic_prefix, spec) for spec in ROUTES.values()})
    for fut in admin.create_topics([NewTopic(n, 2, 1) for n in names]).values():
        fut.result(timeout=30.0)
    yield s
    for fut in admin.delete_topics(names, operation_timeout=30.0).values():
        fut.result(timeout=30.0)


def _until(pred: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def test_telemetry_reaches_kafka_and_actions_change_the_fleet(settings: Settings) -> None:
    runner = FleetRunner(settings, Scenario.model_validate(_SCENARIO), seed=1, speed=50.0,
                         tick_s=0.05)  # fmt: skip
    thread = threading.Thread(target=runner.run, daemon=True)
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap(), "group.id": f"it-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    consumer.subscribe(sorted({full_name(settings.topic_prefix, s) for s in ROUTES.values()}))
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def drain() -> None:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            seen.append((msg.topic(), (msg.key() or b"").decode(), json.loads(msg.value())))

    def poisoned() -> bool:
        drain()
        return any(v.get("error_class") == "cache_corrupt" and k == "api" for _, k, v in seen)

    thread.start()
    try:
        assert _until(lambda: runner.url != settings.fleet_url, 10.0)
        assert _until(poisoned, 60.0), "cache_corrupt logs of api arrive on the logs topic"
        metrics = [v for t, _, v in seen if t.endswith("telemetry.metrics")]
        assert {MetricBatch.model_validate(v).service for v in metrics} == {"web", "api"}
        assert all(k == v["service"] for t, k, v in seen if not t.endswith("traces"))
        answer = _post(f"{runner.url}/actions", {"action_id": "it-1", "verb": "flush_cache",
                                                 "target": "api", "params": {}})  # fmt: skip
        assert answer["ok"]
        assert answer["effect_delay_s"] == 5.0
        assert answer["captured"] == {"cache": "poisoned"}
        assert _until(lambda: _get(f"{runner.url}/state/api")["cache"] != "poisoned", 10.0)
        flushed_at = _get(f"{runner.url}/health")["sim_time"]

        def healthy_again() -> bool:
            drain()
            return any(
                t.endswith("telemetry.metrics") and v["service"] == "api"
                and _t(v["points"][0]["ts"]) > flushed_at + 20
                and next(p["value"] for p in v["points"] if p["name"] == "error_rate") < 0.05
                for t, _, v in seen
            )  # fmt: skip

        assert _until(healthy_again, 30.0), "api's error rate on the metrics topic recovers"
        late = [LogEvent.model_validate(v) for t, _, v in seen if t.endswith("logs")]
        assert not [e for e in late if e.ts.timestamp() > flushed_at + 30 and
                    e.error_class == "cache_corrupt"]  # fmt: skip
    finally:
        runner.stop()
        thread.join(timeout=20.0)
        consumer.close()
    assert not thread.is_alive()
    assert runner.failed == 0
    assert runner.produced > 0


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
