"""The record stage: the ledger sink. Reads the ledger and dead-letter topics, chains and inserts
in batches, and commits offsets only after ClickHouse has the rows. If the store is down, events
wait in Kafka; a retry never doubles a row (event ids already stored are skipped)."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, TopicPartition

from setpoint.errors import InputError, LedgerStoreError
from setpoint.ledger import ChainHead, LedgerStore
from setpoint.ledger import events as le
from setpoint.schemas import DeadLetter, LedgerEvent
from setpoint.settings import Settings
from setpoint.streams.codec import dead_letter, decode
from setpoint.streams.topics import DEADLETTER, LEDGER, full_name

log = logging.getLogger("setpoint.sink")


@dataclass
class SinkStats:
    inserted: int = 0
    duplicates: int = 0
    bad: int = 0
    store_errors: int = 0
    batches: int = 0
    lag_hint: dict[str, int] = field(default_factory=dict)


class LedgerSink:
    """Kafka -> ClickHouse, at-least-once delivery made exactly-once by event-id de-duplication.

    Parameters
    ----------
    settings
        Broker, topic prefix, app id (the sink's group is ``<app_id>-ledger``).
    store
        The ledger store (already migrated).
    batch_size, batch_wait_s
        A batch is inserted when it has this many events or is this old.
    """

    def __init__(
        self,
        settings: Settings,
        store: LedgerStore,
        batch_size: int = 5000,
        batch_wait_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.store = store
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.stats = SinkStats()
        self._stop = threading.Event()
        self._heads: dict[str, ChainHead] = {}
        self._ledger_topic = full_name(settings.topic_prefix, LEDGER)
        self._dl_topic = full_name(settings.topic_prefix, DEADLETTER)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Consume until ``stop()``; survives a ledger outage by retrying the same batch."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap(),
                "group.id": f"{self.settings.app_id}-ledger",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "max.poll.interval.ms": 600000,
            }
        )
        consumer.subscribe([self._ledger_topic, self._dl_topic])
        self._heads = self._load_heads()
        try:
            while not self._stop.is_set():
                batch = self._poll_batch(consumer)
                if batch:
                    self._deliver(consumer, batch)
        finally:
            consumer.close()

    def _load_heads(self) -> dict[str, ChainHead]:
        while not self._stop.is_set():
            try:
                return self.store.heads()
            except LedgerStoreError as exc:
                self.stats.store_errors += 1
                log.warning("ledger unavailable, retrying: %s", exc)
                time.sleep(1.0)
        return {}

    def _poll_batch(self, consumer: Consumer) -> list[Message]:
        out: list[Message] = []
        deadline = time.monotonic() + self.batch_wait_s
        while len(out) < self.batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msgs = consumer.consume(min(1000, self.batch_size - len(out)), timeout=left)
            out.extend(m for m in msgs if not m.error())
        return out

    def _deliver(self, consumer: Consumer, batch: list[Message]) -> None:
        by_chain = self._chain_batch(batch)
        backoff = 0.5
        while not self._stop.is_set():
            try:
                for chain, events in by_chain.items():
                    self._append(chain, events)
                consumer.commit(offsets=_next_offsets(batch), asynchronous=False)
                self.stats.batches += 1
                return
            except LedgerStoreError as exc:
                # Nothing is committed: the same batch is retried until the store is back.
                self.stats.store_errors += 1
                log.warning("ledger insert failed (retrying in %.1fs): %s", backoff, exc)
                self._heads = {}
                time.sleep(backoff)
                backoff = min(10.0, backoff * 2)
                try:
                    self._heads = self.store.heads()
                except LedgerStoreError:
                    continue

    def _append(self, chain: str, events: list[LedgerEvent]) -> None:
        seen = self.store.existing_ids([e.event_id for e in events])
        fresh, ids = [], set(seen)
        for e in events:
            if e.event_id not in ids:
                ids.add(e.event_id)
                fresh.append(e)
        self.stats.duplicates += len(events) - len(fresh)
        if fresh:
            self._heads[chain] = self.store.append(fresh, chain, self._heads.get(chain))
            self.stats.inserted += len(fresh)

    def _chain_batch(self, batch: list[Message]) -> dict[str, list[LedgerEvent]]:
        out: dict[str, list[LedgerEvent]] = defaultdict(list)
        for m in batch:
            ev = self._to_event(m)
            chain = f"p{m.partition()}" if m.topic() == self._ledger_topic else f"dl{m.partition()}"
            out[chain].append(ev)
        return out

    def _to_event(self, m: Message) -> LedgerEvent:
        is_ledger = m.topic() == self._ledger_topic
        spec = LEDGER if is_ledger else DEADLETTER
        try:
            value = decode(spec, m.value())
        except InputError as exc:
            # A malformed ledger or dead-letter record is itself kept, as a dead letter.
            self.stats.bad += 1
            dl = dead_letter(
                m.topic() or "",
                m.value(),
                exc,
                now=time.time(),
                partition=_int(m.partition()),
                offset=_int(m.offset()),
                key=m.key(),
            )
            return le.dead_letter(dl).model_copy(update={"event_id": dl.dead_letter_id})
        if isinstance(value, DeadLetter):
            return le.dead_letter(value).model_copy(update={"event_id": value.dead_letter_id})
        event: LedgerEvent = value
        return event


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for m in batch:
        key = (m.topic() or "", _int(m.partition()))
        last[key] = max(last.get(key, -1), _int(m.offset()))
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _int(v: int | None) -> int:
    return -1 if v is None else v
