"""Read topics over a range of record time, once, for ``setpoint scenarios record --from-kafka``.

Each partition is read from the first record at or after ``since`` (``offsets_for_times``; the
beginning without it) to the high watermark as of the start, or to its first record after
``until``. Times are the broker's record timestamps (when a record was produced), not event times.
Every record is decoded with the codec; one that does not decode becomes a dead letter (counted,
kept, never fatal).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from setpoint.errors import BrokerError, InputError
from setpoint.schemas import DeadLetter
from setpoint.settings import Settings
from setpoint.streams.codec import dead_letter, decode
from setpoint.streams.topics import TopicSpec, full_name

__all__ = ["RangeRead", "read_range"]


@dataclass
class RangeRead:
    """What was read: each good value with its topic, the dead letters, the topics missing."""

    values: list[tuple[TopicSpec, object]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class _Part:
    spec: TopicSpec
    end: int
    """The offset after the last record to read (the high watermark at the start)."""


def read_range(
    settings: Settings,
    specs: Iterable[TopicSpec],
    since_ms: int | None = None,
    until_ms: int | None = None,
    idle_timeout_s: float = 10.0,
) -> RangeRead:
    """Every record of ``specs``' topics in ``[since_ms, until_ms]`` (epoch milliseconds).

    Raises
    ------
    BrokerError
        The broker does not answer, or stops delivering for ``idle_timeout_s`` before the end.
    """
    out = RangeRead()
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap(),
            "group.id": uuid.uuid4().hex,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        starts, parts = _plan(c, settings, list(specs), since_ms, idle_timeout_s, out)
        if starts:
            c.assign(starts)
            _drain(c, parts, until_ms, idle_timeout_s, out)
    except KafkaException as exc:
        msg = f"cannot read from Kafka at {settings.kafka_bootstrap()}: {exc}"
        raise BrokerError(msg, context={"broker": settings.kafka_bootstrap()}) from exc
    finally:
        c.close()
    return out


def _plan(
    c: Consumer,
    settings: Settings,
    specs: list[TopicSpec],
    since_ms: int | None,
    timeout_s: float,
    out: RangeRead,
) -> tuple[list[TopicPartition], dict[tuple[str, int], _Part]]:
    """Where each partition starts and ends; topics that do not exist go to ``out.missing``."""
    topics = c.list_topics(timeout=timeout_s).topics
    starts: list[TopicPartition] = []
    parts: dict[tuple[str, int], _Part] = {}
    for spec in specs:
        name = full_name(settings.topic_prefix, spec)
        meta = topics.get(name)
        if meta is None or meta.error is not None:
            out.missing.append(name)
            continue
        for p in sorted(meta.partitions):
            low, high = c.get_watermark_offsets(TopicPartition(name, p), timeout=timeout_s)
            first = _first_offset(c, name, p, low, since_ms, timeout_s)
            if first is None or first >= high:
                continue
            starts.append(TopicPartition(name, p, first))
            parts[(name, p)] = _Part(spec, high)
    return starts, parts


def _first_offset(
    c: Consumer, name: str, p: int, low: int, since_ms: int | None, timeout_s: float
) -> int | None:
    if since_ms is None:
        return low
    found = c.offsets_for_times([TopicPartition(name, p, since_ms)], timeout=timeout_s)[0]
    return found.offset if found.offset >= 0 else None  # -1: nothing at or after since


def _drain(
    c: Consumer,
    parts: dict[tuple[str, int], _Part],
    until_ms: int | None,
    idle_timeout_s: float,
    out: RangeRead,
) -> None:
    idle_since = time.monotonic()
    while parts:
        m = c.poll(0.5)
        if m is None or m.error():
            if time.monotonic() - idle_since > idle_timeout_s:
                left = ", ".join(f"{t}[{p}]" for t, p in parts)
                msg = f"Kafka stopped delivering before the end of {left}"
                raise BrokerError(msg, context={"partitions": left})
            continue
        idle_since = time.monotonic()
        key = (m.topic() or "", m.partition() or 0)
        part = parts.get(key)
        if part is None:
            continue
        offset = m.offset() or 0
        _, ts_ms = m.timestamp()
        past = until_ms is not None and ts_ms > until_ms
        if not past:
            _accept(part.spec, m, out)
        if past or offset + 1 >= part.end:
            del parts[key]
            c.pause([TopicPartition(*key)])


def _accept(spec: TopicSpec, m: Message, out: RangeRead) -> None:
    raw = m.value()
    if raw is None and spec.compacted:
        return  # a tombstone: the deletion of a compacted record (a silence), not bad input
    try:
        out.values.append((spec, decode(spec, raw)))
    except InputError as exc:
        _, ts_ms = m.timestamp()
        out.dead_letters.append(
            dead_letter(
                m.topic() or spec.name,
                raw,
                exc,
                now=ts_ms / 1000.0,
                partition=m.partition() or 0,
                offset=m.offset() or 0,
                key=m.key(),
            )
        )
