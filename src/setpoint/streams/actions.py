"""Actions as a human sees them: an executed action found on the action-results topic, a signed
command published for the actuator (and recorded in the ledger), and its result awaited. The
``setpoint rollback`` brake is built on these."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from setpoint.errors import InputError
from setpoint.ledger import events as le
from setpoint.schemas import ActionResult, AnyCommand
from setpoint.settings import Settings
from setpoint.streams.codec import decode, encode
from setpoint.streams.topics import COMMANDS, LEDGER, RESULTS, TopicSpec, full_name


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap(),
            "group.id": f"human-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )


def _partitions(c: Consumer, name: str, timeout_s: float) -> list[TopicPartition]:
    meta = c.list_topics(name, timeout=timeout_s).topics.get(name)
    return [TopicPartition(name, p) for p in (meta.partitions if meta else {})]


def results(settings: Settings, timeout_s: float = 5.0) -> list[ActionResult]:
    """Every action result on the topic, oldest first per partition."""
    c = _consumer(settings)
    name = full_name(settings.topic_prefix, RESULTS)
    try:
        parts = _partitions(c, name, timeout_s)
        ends = {p.partition: c.get_watermark_offsets(p, timeout=timeout_s)[1] for p in parts}
        c.assign([TopicPartition(name, p.partition, 0) for p in parts])
        out: list[ActionResult] = []
        deadline = time.monotonic() + timeout_s
        while any(ends.values()) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            if (m.offset() or 0) + 1 >= ends.get(m.partition() or 0, 0):
                ends[m.partition() or 0] = 0
            try:
                out.append(decode(RESULTS, m.value()))
            except InputError:
                continue
        return out
    finally:
        c.close()


def latest_event_time(
    settings: Settings, spec: TopicSpec = LEDGER, timeout_s: float = 5.0
) -> float:
    """The newest event time on ``spec``'s topic (the clock the stages run on), 0 if empty."""
    c = _consumer(settings)
    name = full_name(settings.topic_prefix, spec)
    newest = 0.0
    try:
        for tp in _partitions(c, name, timeout_s):
            _, high = c.get_watermark_offsets(tp, timeout=timeout_s)
            if high <= 0:
                continue
            c.assign([TopicPartition(name, tp.partition, high - 1)])
            m = c.poll(timeout_s)
            if m is not None and not m.error():
                try:
                    newest = max(newest, decode(spec, m.value()).ts.timestamp())
                except (InputError, AttributeError):
                    continue
        return newest
    finally:
        c.close()


def publish(settings: Settings, cmd: AnyCommand) -> None:
    """Put ``cmd`` on the commands topic (keyed by its domain) and record it in the ledger."""
    p = Producer({"bootstrap.servers": settings.kafka_bootstrap(), "acks": "all"})
    p.produce(full_name(settings.topic_prefix, COMMANDS), encode(cmd), cmd.domain.encode())
    ev = le.command(cmd, str(cmd.verb))
    p.produce(full_name(settings.topic_prefix, LEDGER), encode(ev), ev.incident_id.encode())
    if p.flush(10.0):
        raise InputError("the broker did not take the command within 10s")


def wait_result(settings: Settings, command_id: str, timeout_s: float) -> ActionResult | None:
    """The result of ``command_id`` once the actuator has sent it (``None`` after the time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [r for r in results(settings, 3.0) if r.command_id == command_id]
        if found:
            return found[-1]
        time.sleep(1.0)
    return None
