"""Telemetry load for the fault tests, and the detection state it should leave behind.

Every service gets one metric batch per tick (``METRICS`` x ``INSTANCES`` points, one point per
series), so after ``n`` ticks every series of the detect stage's state must have seen exactly
``n`` values: fewer means telemetry was lost, more means some was applied twice.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from setpoint.detectors import DetectionStage
from setpoint.streams.handover import Record
from setpoint.streams.topics import METRICS, STATE_DETECT, full_name

METRICS_PER_SERVICE = ("latency_p99_ms", "error_rate", "cpu", "memory_mb")
INSTANCES = 5
T0 = float(int(time.time())) - 7200.0


def services(n: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(n)]


def batch(service: str, tick: int, step_s: float = 10.0) -> bytes:
    points = [
        {"name": m, "value": 100.0 + (tick * 7 + j * 3 + i) % 11, "ts": T0 + tick * step_s,
         "instance": f"i-{i}"}
        for j, m in enumerate(METRICS_PER_SERVICE)
        for i in range(INSTANCES)
    ]  # fmt: skip
    return orjson.dumps({"kind": "metric_batch", "service": service, "points": points})


def publish(
    env: dict[str, str], names: list[str], ticks: range, rate_per_s: float = 0.0, **conf: Any
) -> int:
    """Publish ``ticks`` of every service (``rate_per_s`` batches per second; 0: at once);
    return the number of messages. Waits for every delivery (retrying through an outage)."""
    p = Producer(
        {"bootstrap.servers": env["SETPOINT_BROKER"], "partitioner": "murmur2_random",
         "linger.ms": 5, "message.timeout.ms": 300000, **conf}
    )  # fmt: skip
    topic = full_name(env["SETPOINT_TOPIC_PREFIX"], METRICS)
    start, sent = time.monotonic(), 0
    for tick in ticks:
        for svc in names:
            p.produce(topic, batch(svc, tick), svc.encode())
            sent += 1
        p.poll(0)
        if rate_per_s:
            ahead = sent / rate_per_s - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    left = p.flush(300)
    assert left == 0, f"{left} messages were never delivered"
    return sent


def committed_all(env: dict[str, str], spec: Any = METRICS) -> bool:
    """Whether the workers' group has committed every message of ``spec``'s topic."""
    name = full_name(env["SETPOINT_TOPIC_PREFIX"], spec)
    c = Consumer({"bootstrap.servers": env["SETPOINT_BROKER"], "group.id": env["SETPOINT_APP_ID"],
                  "enable.auto.commit": False})  # fmt: skip
    try:
        parts = c.list_topics(name, timeout=10).topics[name].partitions
        tps = [TopicPartition(name, p) for p in parts]
        done = c.committed(tps, timeout=10)
        ends = [c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        return all(d.offset >= e for d, e in zip(done, ends, strict=True))
    finally:
        c.close()


def series_counts(env: dict[str, str]) -> dict[str, dict[str, int]]:
    """service -> series -> values seen, from the latest detection checkpoints on the topic."""
    name = full_name(env["SETPOINT_TOPIC_PREFIX"], STATE_DETECT)
    c = Consumer({"bootstrap.servers": env["SETPOINT_BROKER"], "group.id": uuid.uuid4().hex,
                  "enable.partition.eof": True, "enable.auto.commit": False})  # fmt: skip
    latest: dict[bytes, bytes | None] = {}
    try:
        parts = c.list_topics(name, timeout=10).topics[name].partitions
        c.assign([TopicPartition(name, p, 0) for p in parts])
        open_parts, deadline = set(parts), time.monotonic() + 60
        while open_parts and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            err = m.error()
            if err is not None:
                open_parts.discard(m.partition())
                continue
            latest[m.key() or b""] = m.value()
    finally:
        c.close()
    stage = DetectionStage()
    for v in latest.values():
        if v is not None:
            stage.restore(Record.decode(v).state)
    return {svc: stage.seen(svc) for svc in stage.services()}
