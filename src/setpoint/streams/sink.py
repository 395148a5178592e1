"""The record stage: the ledger sink. Reads the ledger and dead-letter topics, chains and inserts
in batches, signs checkpoints, and commits offsets only after ClickHouse has the rows. If the
store is down, events wait in Kafka; a retry never doubles a row (event ids already stored are
skipped)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, TopicPartition

from setpoint.errors import InputError, LedgerStoreError
from setpoint.ledger import CHECKPOINT_TYPE, ChainHead, LedgerStore, Record, decode_record
from setpoint.ledger import events as le
from setpoint.ledger.checkpoint import CheckpointSigner, signer_from
from setpoint.schemas import DeadLetter, LedgerEvent
from setpoint.settings import Settings
from setpoint.streams.codec import dead_letter, decode
from setpoint.streams.topics import DEADLETTER, LEDGER, full_name

log = logging.getLogger("setpoint.sink")

RECENT_IDS = 500_000
"""Event ids the sink remembers having stored (about 75 MB), besides those it read back on start:
a producer that sends an event again is caught here, without a query, as long as the first copy
is among them."""


@dataclass
class SinkStats:
    inserted: int = 0
    duplicates: int = 0
    bad: int = 0
    store_errors: int = 0
    batches: int = 0
    checkpoints: int = 0
    releases: int = 0
    lag_hint: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Time spent per step: poll, decode, dedup, insert, commit (where a batch's time goes)."""

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] += time.perf_counter() - t


@dataclass
class _Batch:
    records: dict[str, list[Record]]
    next_offsets: dict[tuple[str, int], int]


@dataclass
class _Pending:
    """Rows appended to a chain since its last checkpoint, and since when."""

    rows: int = 0
    since: float = 0.0


class LedgerSink:
    """Kafka -> ClickHouse, at-least-once delivery made exactly-once by event-id de-duplication.

    Where duplicates come from, and how each is caught: Kafka delivers again what the sink read
    but had not committed when it crashed; of that, only the last batch inserted before the crash
    can be stored already, and those are the newest rows of their chains, so on start the sink
    reads the ids of the newest ``2 * batch_size`` rows of every chain into its memory of recent
    ids. A batch retried after a failed insert (which may have landed) is checked against the
    table itself. Everything is checked against the ids of the last ``RECENT_IDS`` events stored,
    which also catches a producer that re-sends an event. A query per batch against the whole
    table would cost more than the insert once the ledger holds millions of rows.

    Parameters
    ----------
    settings
        Broker, topic prefix, app id (the sink's group is ``<app_id>-ledger``), checkpoint key
        and cadence, idle release of the embedded engine.
    store
        The ledger store (already migrated).
    batch_size, batch_wait_s
        A batch is inserted when it has this many events or is this old.
    signer
        Signs checkpoints; default: the key the settings name.
    """

    def __init__(
        self,
        settings: Settings,
        store: LedgerStore,
        batch_size: int = 20000,
        batch_wait_s: float = 0.5,
        signer: CheckpointSigner | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.signer = signer
        self.stats = SinkStats()
        self._stop = threading.Event()
        self._heads: dict[str, ChainHead] | None = None
        self._pending: dict[str, _Pending] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_cap = RECENT_IDS
        self._last_batch = time.monotonic()
        self._ledger_topic = full_name(settings.topic_prefix, LEDGER)
        self._dl_topic = full_name(settings.topic_prefix, DEADLETTER)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Consume until ``stop()``; survives a ledger outage by retrying the same batch."""
        if self.signer is None:
            self.signer = signer_from(self.settings)
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap(),
                "group.id": f"{self.settings.app_id}-ledger",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "max.poll.interval.ms": 600000,
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )
        consumer.subscribe([self._ledger_topic, self._dl_topic])
        self._resume()
        # One writer thread: batch N is inserted while batch N+1 is polled and decoded (the
        # engine releases the GIL while it inserts). Only this thread touches the consumer, and
        # it commits batch N only once the writer reports it stored.
        job: tuple[Future[bool], _Batch] | None = None
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="ledger-writer") as writer:
                while not self._stop.is_set():
                    batch = self._poll_batch(consumer)
                    decoded = self._decode(batch) if batch else None
                    if job is not None:
                        self._finish(consumer, *job)
                        job = None
                    self._housekeeping()
                    if decoded is not None:
                        job = (writer.submit(self._store_batch, decoded), decoded)
                if job is not None:
                    self._finish(consumer, *job)
        finally:
            consumer.close()
            self._final_checkpoint()

    def _decode(self, batch: list[Message]) -> _Batch:
        with self.stats.timed("decode"):
            return self._chain_batch(batch)

    def _finish(self, consumer: Consumer, stored: Future[bool], b: _Batch) -> None:
        """Wait for the writer; commit the batch's offsets if (and only if) it was stored."""
        if not stored.result():
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in b.next_offsets.items()]
        with self.stats.timed("commit"):
            consumer.commit(offsets=offsets, asynchronous=False)
        self.stats.batches += 1
        self._last_batch = time.monotonic()

    def _final_checkpoint(self, patience_s: float = 10.0) -> None:
        """On a clean stop, sign the heads not yet covered, retrying for a while if the store is
        busy (another process may be reading the embedded engine); then give up, logged."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                if self._heads is None:
                    self._heads = self.store.heads()
                self._checkpoint_due(force=True)
                return
            except LedgerStoreError as exc:
                self.store.close()
                self._heads = None
                if time.monotonic() > deadline:
                    log.warning("final checkpoint skipped: %s", exc)
                    return
                time.sleep(0.5)

    def _resume(self) -> None:
        """Load the chain heads (retrying while the store is down); a chain whose last row is
        not a checkpoint gets one once the interval has passed."""
        while not self._stop.is_set():
            try:
                self._heads = self.store.heads()
                last = self.store.query_rows(
                    f"SELECT chain, argMax(event_type, seq) FROM {self.store.database}.ledger "
                    "GROUP BY chain"
                )
            except LedgerStoreError as exc:
                self.stats.store_errors += 1
                log.warning("ledger unavailable, retrying: %s", exc)
                time.sleep(1.0)
                continue
            now = time.monotonic()
            self._pending = {c: _Pending(1, now) for c, t in last if t != CHECKPOINT_TYPE}
            newest = self.store.recent_ids(self._heads.values(), 2 * self.batch_size)
            self._recent_cap = RECENT_IDS + len(newest)  # room for them on top
            self._remember(newest)
            return

    def _remember(self, event_ids: list[str]) -> None:
        for i in event_ids:
            self._recent[i] = None
        while len(self._recent) > self._recent_cap:
            self._recent.popitem(last=False)

    # -- the loop ----------------------------------------------------------------------------
    def _poll_batch(self, consumer: Consumer) -> list[Message]:
        out: list[Message] = []
        deadline = time.monotonic() + self.batch_wait_s
        while len(out) < self.batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with self.stats.timed("poll"):
                msgs = consumer.consume(min(10000, self.batch_size - len(out)), timeout=left)
            out.extend(m for m in msgs if not m.error())
        return out

    def _store_batch(self, b: _Batch) -> bool:
        """Chain and insert a decoded batch, retrying while the store is down; ``False`` only
        when stopped before the batch was stored (then nothing may be committed)."""
        check_table = False
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._heads is None:
                    # After a failure the heads are read again: the failed insert may have landed.
                    self._heads = self.store.heads()
                for chain, records in b.records.items():
                    self._append(self._heads, chain, records, check_table)
                self._checkpoint_due()
                return True
            except LedgerStoreError as exc:
                # The same batch is retried until the store is back, and no chain is extended
                # from a head that was not read back from the store.
                self.stats.store_errors += 1
                self._heads = None
                check_table = True  # the failed insert may have landed: check the whole batch
                log.warning("ledger insert failed (retrying in %.1fs): %s", backoff, exc)
                self.store.close()
                time.sleep(backoff)
                backoff = min(10.0, backoff * 2)
        return False

    def _append(
        self,
        heads: dict[str, ChainHead],
        chain: str,
        records: list[Record],
        check_table: bool,
    ) -> None:
        ids = [r.event_id for r in records]
        with self.stats.timed("dedup"):
            stored = {i for i in ids if i in self._recent}
            if check_table:
                stored |= self.store.existing_ids(ids)
        fresh: list[Record] = []
        for r in records:
            if r.event_id not in stored:
                stored.add(r.event_id)
                fresh.append(r)
        self.stats.duplicates += len(records) - len(fresh)
        if fresh:
            with self.stats.timed("insert"):
                heads[chain] = self.store.append(fresh, chain, heads.get(chain))
            self.stats.inserted += len(fresh)
            p = self._pending.setdefault(chain, _Pending(0, time.monotonic()))
            p.rows += len(fresh)
        self._remember(ids)

    def _housekeeping(self) -> None:
        """Between batches: time-based checkpoints, and the idle release of the embedded
        engine's data path."""
        try:
            self._checkpoint_due()
        except LedgerStoreError as exc:
            self.stats.store_errors += 1
            self._heads = None
            log.warning("checkpoint deferred: %s", exc)
            self.store.close()
            return
        idle = time.monotonic() - self._last_batch
        release = self.settings.ledger_release_idle_s
        if self.store.embedded and release > 0 and idle >= release and self.store.is_open:
            self.store.close()
            self.stats.releases += 1

    def _checkpoint_due(self, force: bool = False) -> None:
        heads = self._heads
        if heads is None or self.signer is None:
            return
        now = time.monotonic()
        every = self.settings.ledger_checkpoint_every
        interval = self.settings.ledger_checkpoint_interval_s
        for chain, p in list(self._pending.items()):
            due = p.rows >= every or (p.rows > 0 and now - p.since >= interval)
            head = heads.get(chain)
            if head is None or not (due or (force and p.rows)):
                continue
            record = self.signer.record(head, datetime.now(UTC))
            heads[chain] = self.store.append([record], chain, head)
            self.stats.checkpoints += 1
            del self._pending[chain]

    # -- decoding ----------------------------------------------------------------------------
    def _chain_batch(self, batch: list[Message]) -> _Batch:
        """One pass over the messages: records per chain and the offsets to commit."""
        out = _Batch(defaultdict(list), {})
        for m in batch:
            topic, part, off = m.topic() or "", _int(m.partition()), _int(m.offset())
            is_ledger = topic == self._ledger_topic
            fast = decode_record(m.value() or b"") if is_ledger else None
            record = fast if fast is not None else self._to_record(m, is_ledger)
            out.records[f"p{part}" if is_ledger else f"dl{part}"].append(record)
            tp = (topic, part)
            if off >= out.next_offsets.get(tp, 0):
                out.next_offsets[tp] = off + 1
        return out

    def _to_record(self, m: Message, is_ledger: bool) -> Record:
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
            value = dl
        if isinstance(value, DeadLetter):
            ev = le.dead_letter(value).model_copy(update={"event_id": value.dead_letter_id})
            return Record.from_event(ev)
        event: LedgerEvent = value
        return Record.from_event(event)


def _int(v: int | None) -> int:
    return -1 if v is None else v
