"""The actuators' shared journal: every write of an execution record, on a compacted topic keyed
by idempotency key (``actuator.executions`` in the topic table).

Publishing waits for the broker's acknowledgement (a record that is not durable does not count:
the backend is not called before its ``begin`` is acknowledged). Before an actuator looks a key
up it catches up with the topic (reads up to the end offset of *now*), so a command whose
partition moved from another actuator is known to have run there.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from setpoint.actuators.records import ExecutionRecord
from setpoint.errors import BrokerError, InputError
from setpoint.schemas import ExecutionEntry
from setpoint.settings import Settings
from setpoint.streams.codec import decode, encode
from setpoint.streams.topics import EXECUTIONS, full_name

_ACK_S = 10.0


def to_entry(rec: ExecutionRecord) -> ExecutionEntry:
    data = rec.to_json()
    data.pop("result_json", None)  # results go to their own topic; the journal stays small
    return ExecutionEntry(**data)


def to_record(entry: ExecutionEntry) -> ExecutionRecord:
    data = entry.model_dump(exclude={"kind", "schema_version"})
    return ExecutionRecord(**data)


class KafkaJournal:
    """Publishes record writes and replays the ones not seen yet.

    Parameters
    ----------
    settings
        Broker and topic prefix.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = full_name(settings.topic_prefix, EXECUTIONS)
        bootstrap = settings.kafka_bootstrap()
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
            }
        )
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"journal-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self._assigned = False
        self._lock = threading.Lock()
        self.bad = 0

    def publish(self, record: ExecutionRecord) -> None:
        """Write ``record`` and wait until the broker has it; ``BrokerError`` if it does not."""
        errors: list[Any] = []
        self._producer.produce(
            self.topic,
            encode(to_entry(record)),
            record.idempotency_key.encode(),
            on_delivery=lambda err, _m: errors.append(err),
        )
        left = self._producer.flush(_ACK_S)
        if left or (errors and errors[0] is not None):
            why = errors[0] if errors else f"not acknowledged within {_ACK_S:g}s"
            msg = f"the execution journal {self.topic} did not take {record.action_id}: {why}"
            raise BrokerError(msg, context={"topic": self.topic})

    def replay(self, merge: Callable[[ExecutionRecord], object], timeout_s: float = 5.0) -> int:
        """Read every entry up to the topic's end offset as of now and ``merge`` each one;
        return how many were read."""
        with self._lock:
            tp = TopicPartition(self.topic, 0)
            try:
                if not self._assigned:
                    self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
                    self._assigned = True
                _, high = self._consumer.get_watermark_offsets(tp, timeout=timeout_s)
            except KafkaException as exc:
                msg = f"cannot read the execution journal {self.topic}: {exc}"
                raise BrokerError(msg, context={"topic": self.topic}) from exc
            return self._read_until(high, merge, timeout_s)

    def _read_until(
        self, high: int, merge: Callable[[ExecutionRecord], object], timeout_s: float
    ) -> int:
        n = 0
        if high <= 0:
            return 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pos = self._consumer.position([TopicPartition(self.topic, 0)])[0].offset
            if pos >= high:
                break
            msg = self._consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            try:
                merge(to_record(decode(EXECUTIONS, msg.value())))
                n += 1
            except InputError:
                self.bad += 1
        return n

    def close(self) -> None:
        self._producer.flush(_ACK_S)
        self._consumer.close()
