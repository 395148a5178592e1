"""Read a whole (small) topic once, from the beginning to its end as of now: the approvals, the
control epoch, the trust scores. For command-line tools; the stages use consumers."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from setpoint.errors import BrokerError, InputError
from setpoint.settings import Settings
from setpoint.streams.codec import decode
from setpoint.streams.topics import TopicSpec, full_name


def read_all(settings: Settings, spec: TopicSpec, timeout_s: float = 5.0) -> list[object]:
    """Every valid value on ``spec``'s topic, in partition order (bad records are skipped: they
    were dead-lettered by whoever read them in a stage)."""
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap(), "group.id": uuid.uuid4().hex,
                  "enable.auto.commit": False})  # fmt: skip
    name = full_name(settings.topic_prefix, spec)
    try:
        meta = c.list_topics(name, timeout=timeout_s).topics[name]
        if meta.error is not None:
            msg = f"topic {name} is not readable: {meta.error} (setpoint topics create)"
            raise BrokerError(msg, context={"topic": name})
        parts = [TopicPartition(name, p, 0) for p in meta.partitions]
        ends = {p.partition: c.get_watermark_offsets(p, timeout=timeout_s)[1] for p in parts}
        c.assign(parts)
        return _drain(c, spec, ends, timeout_s)
    except KafkaException as exc:
        msg = f"cannot read {name} from {settings.kafka_bootstrap()}: {exc}"
        raise BrokerError(msg, context={"topic": name}) from exc
    finally:
        c.close()


def _drain(c: Consumer, spec: TopicSpec, ends: dict[int, int], timeout_s: float) -> list[object]:
    out: list[object] = []
    deadline = time.monotonic() + timeout_s
    while any(ends.values()) and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        p, off = m.partition() or 0, m.offset() or 0
        if off + 1 >= ends.get(p, 0):
            ends[p] = 0
        try:
            out.append(decode(spec, m.value()))
        except InputError:
            continue
    return out
