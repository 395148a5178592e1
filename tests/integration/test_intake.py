"""Bad input on the real broker is counted, dead-lettered with its reason and recorded in the
ledger; the worker carries on and still detects what good telemetry shows."""

from __future__ import annotations

import json
import time

from setpoint.streams.topics import COMMANDS, DEADLETTER, LOGS, METRICS
from tests.integration.conftest import consume_all, producer, topic, wait_for

HOSTILE = [
    (METRICS, b"{not json"),
    (METRICS, b'{"service": "api", "name": "cpu", "value": "NaN", "ts": 0}'),
    (METRICS, b'{"service": "api", "name": "cpu", "value": 1, "ts": "2026-01-01T00:00:00"}'),
    (METRICS, b"[" * 100_000),
    (METRICS, json.dumps({"service": "a" * 10_000, "name": "x", "value": 1, "ts": 0}).encode()),
    (LOGS, json.dumps({"service": "api", "ts": 0, "level": "panic", "message": "x"}).encode()),
    (COMMANDS, json.dumps({"verb": "reboot_everything", "target": "*"}).encode()),
    (METRICS, b"x" * 600_000),
]


def test_hostile_messages_are_dead_lettered_and_the_worker_keeps_going(env, procs, sink) -> None:  # type: ignore[no-untyped-def]
    procs.start("worker", "worker")
    procs.start("actuator", "actuator")
    p = producer(env)
    for spec, raw in HOSTILE:
        p.produce(topic(env, spec), key=b"api", value=raw)
    t0 = time.time() - 3600
    for i in range(240):
        value = 0.01 if i < 200 else 0.5
        sample = {"service": "api", "name": "error_rate", "value": value, "ts": t0 + i * 15}
        p.produce(topic(env, METRICS), key=b"api", value=json.dumps(sample).encode())
        if i % 20 == 0:
            p.flush()
            time.sleep(0.1)
    p.flush()

    def dead_letters() -> list[dict[str, object]]:
        rows = sink.rows("event_type = 'dead_letter'")
        return rows if len(rows) >= len(HOSTILE) else []

    dead = wait_for(dead_letters, 60, "every hostile message in the ledger")
    codes = sorted(json.loads(r["payload"])["reason_code"] for r in dead)
    assert codes.count("input.decode") == 3 and codes.count("input.schema") == 5, codes
    assert len(consume_all(env, DEADLETTER)) == len(HOSTILE)
    fired = wait_for(
        lambda: sink.rows("event_type = 'anomaly.firing' AND service = 'api'"),
        60,
        "the error-rate jump to be detected after the hostile burst",
    )
    assert fired[0]["stage"] == "detect"
    assert "Traceback" not in procs.log("worker")
