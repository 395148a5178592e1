"""Hand-over of a stage's keyed state when Kafka partitions move between workers.

A :class:`Keeper` sits between one agent and its stage. Every key (a service for detection, a
failure domain for the incident stages) lives on the partition its input arrives on, and its
state is checkpointed to a compacted topic of the topic table (``state.detect``,
``state.domains``), on that same partition number, as a record that also says up to which input
offsets it reflects. The rules, and what each one buys:

* **Acks wait for checkpoints.** Input is acked (so Faust may commit its offset) only once a
  checkpoint covering it is on the broker. A worker killed at any moment leaves committed
  offsets at or before its last checkpoint: nothing it processed is lost, only replayed.
* **Replays are skipped per key.** The worker that takes a partition over restores each key's
  record and ignores, for that key, input below the offsets the record reflects: nothing is
  applied twice, even when the records of a partition were written at different times.
* **Outputs go through an outbox.** What a step emits (an incident, a command, its ledger
  record) is first written into the checkpoint of the key it belongs to, together with the state
  that produced it, and only then sent. A worker that dies in between leaves the output in the
  record, and the next owner sends it again: no output is lost, and none is recomputed under a
  new id (which would make a second incident, or a second command, for the same fault). An output
  can be delivered twice, as the same bytes; the consumers are idempotent for that (the ledger
  by event id, the actuator by idempotency key, the decide stage by action id).
* **A revocation checkpoints everything**, so a planned move (a worker joins or stops) replays
  nothing. The agents pause while a rebalance is under way, and a partition's state is dropped
  by the worker that loses it.

Checkpoint cost: every key touched since the last checkpoint is written, every
``checkpoint_interval_s`` (and before outputs for that key). See ``deploy/README.md``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import BaseModel

from setpoint.errors import BrokerError, DecodeError, InputError
from setpoint.streams.codec import encode
from setpoint.streams.runtime import Runtime
from setpoint.streams.topics import TOPICS, TopicSpec

log = logging.getLogger("setpoint.handover")
_MAGIC = b"SPCK\x01"
_READ_TIMEOUT_S = 60.0
_SPECS = {s.name: s for s in TOPICS}


@dataclass
class Held:
    """How a keeper reaches a stage's keyed state."""

    keys: Callable[[], Iterable[str]]
    snapshot: Callable[[str], bytes]
    restore: Callable[[bytes], str]
    drop: Callable[[Iterable[str]], None]


@dataclass
class Record:
    """One key's checkpoint: its state, the input offsets it reflects and its unsent outputs."""

    stage: str
    key: str
    partition: int
    positions: dict[str, int]
    """Input topic -> the offset (on ``partition``) below which every message is reflected."""
    outbox: list[tuple[str, str | None, str]] = field(default_factory=list)
    """``(topic spec name, message key, message value)`` to send."""
    state: bytes = b""

    def encode(self) -> bytes:
        head = orjson.dumps(
            {
                "stage": self.stage,
                "key": self.key,
                "partition": self.partition,
                "positions": self.positions,
                "outbox": self.outbox,
            }
        )
        return _MAGIC + struct.pack(">I", len(head)) + head + self.state

    @classmethod
    def decode(cls, data: bytes) -> Record:
        """The record ``encode`` wrote; ``DecodeError`` for anything else.

        Examples
        --------
        >>> r = Record("detect", "api", 3, {"t": 10}, [("anomalies", "d", "{}")], b"state")
        >>> Record.decode(r.encode()) == r
        True
        """
        try:
            if data[:5] != _MAGIC:
                raise ValueError("bad header")
            (n,) = struct.unpack(">I", data[5:9])
            head = orjson.loads(data[9 : 9 + n])
            return cls(
                str(head["stage"]),
                str(head["key"]),
                int(head["partition"]),
                {str(k): int(v) for k, v in head["positions"].items()},
                [(str(s), k if k is None else str(k), str(v)) for s, k, v in head["outbox"]],
                data[9 + n :],
            )
        except (ValueError, TypeError, KeyError, AttributeError, struct.error) as exc:
            msg = f"not a checkpoint record: {exc}"
            raise DecodeError(msg) from exc


@dataclass
class KeeperStats:
    checkpoints: int = 0
    records: int = 0
    bytes: int = 0
    tombstones: int = 0
    restored: int = 0
    bad_records: int = 0
    replay_skipped: int = 0
    resent: int = 0
    acked: int = 0
    unhomed: int = 0
    last_checkpoint_s: float = 0.0
    restore_s: float = 0.0


class Keeper:
    """Checkpoints one stage's keyed state, restores it where partitions move, and acks input
    only once a checkpoint covers it.

    Parameters
    ----------
    rt
        The process's runtime (sending, the boundary, settings).
    stage
        The stage's name (records are keyed ``<stage>:<key>``).
    inputs
        The topics whose partitions carry this stage's keys.
    held
        The stage's keyed state.
    store
        The compacted topic the records go to (same partition count as ``inputs``).
    interval_s, max_pending
        A checkpoint is due this often, or once this many input messages wait for one.
    """

    def __init__(
        self,
        rt: Runtime,
        stage: str,
        inputs: Sequence[TopicSpec],
        held: Held,
        store: TopicSpec,
        interval_s: float,
        max_pending: int,
    ) -> None:
        self.rt = rt
        self.stage = stage
        self.inputs = list(inputs)
        self.held = held
        self.store = store
        self.interval_s = interval_s
        self.max_pending = max_pending
        self.stats = KeeperStats()
        self.ready = asyncio.Event()
        self.owned: set[int] = set()
        self._lock = asyncio.Lock()
        self._names = {rt.name_of(s) for s in self.inputs}
        self._home: dict[str, int] = {}
        self._floor: dict[str, dict[str, int]] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._dirty: set[str] = set()
        self._all_dirty = False
        self._outbox: dict[str, list[tuple[TopicSpec, bytes | None, bytes]]] = {}
        self._pending: list[Any] = []
        self._written: dict[int, set[str]] = {}
        self._last = time.monotonic()

    def keys(self, limit: int = 100) -> list[str]:
        """Some of the keys this keeper knows the partition of (for the status file)."""
        return sorted(self._home)[:limit]

    # -- the agent's side ----------------------------------------------------------------------
    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Exclusive use of the stage, once its partitions' state is in place (never during a
        rebalance)."""
        while True:
            await self.ready.wait()
            await self._lock.acquire()
            if self.ready.is_set():
                break
            self._lock.release()
        try:
            yield
        finally:
            self._lock.release()

    def take(self, event: Any) -> bool:
        """Whether ``event`` is on a partition this worker owns (if so, it is acked with the next
        checkpoint; if not, its partition moved away and its new owner will process it)."""
        msg = event.message
        if msg.partition not in self.owned:
            return False
        self._pending.append(event)
        tp = (msg.topic, msg.partition)
        if msg.offset < self._positions.get(tp, -1):
            # Delivered again: after a rebalance Faust seeks a kept partition back to its commit,
            # and what it had fetched before comes too. This worker applied it already.
            self.stats.replay_skipped += 1
            return False
        self._positions[tp] = msg.offset + 1
        return True

    def fresh(self, key: str, event: Any) -> bool:
        """Whether ``key``'s state does not already reflect ``event`` (after a restore, the input
        between the commit and the checkpoint comes again: it is skipped for that key)."""
        msg = event.message
        self._home[key] = msg.partition
        floor = self._floor.get(key)
        if floor is not None and msg.offset < floor.get(msg.topic, -1):
            self.stats.replay_skipped += 1
            return False
        self._dirty.add(key)
        return True

    def touch_all(self) -> None:
        """Every key may have changed (a timer's step): the next checkpoint writes them all."""
        self._all_dirty = True

    def emit(self, key: str, spec: TopicSpec, msg_key: str | None, value: BaseModel) -> None:
        """An output of ``key``: sent by :meth:`publish`, after the checkpoint that carries it."""
        raw = msg_key.encode() if msg_key is not None else None
        self._outbox.setdefault(key, []).append((spec, raw, encode(value)))
        self._dirty.add(key)

    async def publish(self) -> None:
        """Checkpoint what changed, with the outputs waiting, then send them."""
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, {}
        await self._checkpoint(outbox)
        futures = [
            await self.rt.send_raw(spec, k, v)
            for entries in outbox.values()
            for spec, k, v in entries
        ]
        await asyncio.gather(*futures)
        self._dirty.update(outbox)  # the next checkpoint records that they went out

    async def checkpoint(self, force: bool = False) -> None:
        """If one is due (or ``force``): checkpoint every key that changed, then ack the input it
        covers."""
        due = time.monotonic() - self._last >= self.interval_s
        if not (force or due or len(self._pending) >= self.max_pending):
            return
        pending, self._pending = self._pending, []
        await self._checkpoint({})
        for event in pending:
            event.ack()
        self.stats.acked += len(pending)
        self._last = time.monotonic()

    async def _checkpoint(
        self, outbox: dict[str, list[tuple[TopicSpec, bytes | None, bytes]]]
    ) -> None:
        started = time.perf_counter()
        await self.rt.app.producer.flush()  # what was sent directly lands before state says so
        keys = set(self.held.keys())
        dirty = (keys if self._all_dirty else self._dirty & keys) | set(outbox)
        records: list[tuple[str, int, bytes | None]] = []
        for key in sorted(dirty):
            rec = self._record(key, outbox.get(key, []))
            if rec is not None:
                records.append((key, rec.partition, rec.encode()))
        for p in self.owned:
            for key in sorted(self._written.get(p, set()) - keys):
                records.append((key, p, None))  # a tombstone: the key's state is gone
        await self._write(records)
        self._dirty.clear()
        self._all_dirty = False
        self.stats.checkpoints += 1
        self.stats.last_checkpoint_s = time.perf_counter() - started

    def _record(
        self, key: str, outbox: list[tuple[TopicSpec, bytes | None, bytes]]
    ) -> Record | None:
        p = self._home.get(key)
        if p is None or p not in self.owned:
            self.stats.unhomed += 1
            if outbox:
                log.warning(
                    "%s: no partition known for %r; its outputs go out unrecorded", self.stage, key
                )
            return None
        positions = dict(self._floor.get(key, {}))
        for (topic, part), off in self._positions.items():
            if part == p and off > positions.get(topic, -1):
                positions[topic] = off
        state = self.rt.call(self.held.snapshot, key, where=f"{self.stage}.snapshot")
        if state is None:
            return None
        box = [(s.name, k.decode() if k is not None else None, v.decode()) for s, k, v in outbox]
        return Record(self.stage, key, p, positions, box, state)

    async def _write(self, records: list[tuple[str, int, bytes | None]]) -> None:
        futures = []
        for key, p, value in records:
            raw_key = f"{self.stage}:{key}".encode()
            futures.append(await self.rt.send_raw(self.store, raw_key, value, p))
            written = self._written.setdefault(p, set())
            if value is None:
                written.discard(key)
                self.stats.tombstones += 1
            else:
                written.add(key)
                self.stats.records += 1
                self.stats.bytes += len(value)
        await asyncio.gather(*futures)

    # -- rebalance -------------------------------------------------------------------------------
    async def on_revoked(self) -> None:
        """Checkpoint everything and ack what it covers, then pause until the new assignment."""
        async with self._lock:
            if self.ready.is_set():
                self._all_dirty = True
                await self.checkpoint(force=True)
                await self.rt.app.consumer.commit()
            self.ready.clear()

    async def on_assigned(self, assigned: Iterable[Any]) -> None:
        """Drop the state of partitions that moved away; restore those that arrived."""
        parts = {tp.partition for tp in assigned if tp.topic in self._names}
        async with self._lock:
            started = time.perf_counter()
            self._let_go(self.owned - parts)
            arrived = parts - self.owned
            self.owned = parts
            if arrived:
                records = await asyncio.to_thread(self._read, arrived)
                await self._restore(records)
            self.stats.restore_s = time.perf_counter() - started
            self._last = time.monotonic()
            self.ready.set()
        log.info(
            "%s: owns partitions %s (restored %d keys)",
            self.stage,
            sorted(parts),
            self.stats.restored,
        )

    async def on_stopping(self) -> None:
        """A clean stop: checkpoint everything so the next owner replays nothing."""
        await self.on_revoked()

    def _let_go(self, lost: set[int]) -> None:
        if not lost:
            return
        keys = [k for k, p in self._home.items() if p in lost]
        self.held.drop(keys)
        for k in keys:
            self._home.pop(k, None)
            self._floor.pop(k, None)
            self._dirty.discard(k)
            self._outbox.pop(k, None)
        for p in lost:
            self._written.pop(p, None)
        self._positions = {tp: o for tp, o in self._positions.items() if tp[1] not in lost}
        self._pending = [e for e in self._pending if e.message.partition not in lost]

    async def _restore(self, records: list[Record]) -> None:
        resend = []
        for rec in records:
            try:
                key = self.held.restore(rec.state)
            except InputError as exc:
                self.stats.bad_records += 1
                log.error(
                    "%s: checkpoint of %r unreadable, starting it afresh: %s",
                    self.stage,
                    rec.key,
                    exc,
                )
                continue
            self._home[key] = rec.partition
            self._floor[key] = rec.positions
            self._written.setdefault(rec.partition, set()).add(key)
            self.stats.restored += 1
            if rec.outbox:
                self._dirty.add(key)  # the next checkpoint records that the outbox went out
                resend += rec.outbox
        futures = []
        for spec_name, k, v in resend:
            futures.append(
                await self.rt.send_raw(
                    _SPECS[spec_name], k.encode() if k is not None else None, v.encode()
                )
            )
        await asyncio.gather(*futures)
        self.stats.resent += len(resend)

    def _read(self, parts: set[int]) -> list[Record]:
        """The latest record of each of this stage's keys on ``parts`` of the store."""
        name = self.rt.name_of(self.store)
        prefix = f"{self.stage}:".encode()
        consumer = Consumer(
            {
                "bootstrap.servers": self.rt.settings.kafka_bootstrap(),
                "group.id": f"handover-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        latest: dict[bytes, bytes | None] = {}
        try:
            consumer.assign([TopicPartition(name, p, 0) for p in parts])
            open_parts = set(parts)
            deadline = time.monotonic() + _READ_TIMEOUT_S
            while open_parts:
                if time.monotonic() > deadline:
                    msg = f"could not read {name} partitions {sorted(open_parts)} to their end"
                    raise BrokerError(msg, context={"topic": name})
                m = consumer.poll(0.5)
                if m is None:
                    continue
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard(m.partition())
                    continue
                k = m.key() or b""
                if k.startswith(prefix):
                    latest[k] = m.value()
        except KafkaException as exc:
            msg = f"could not read the checkpoints on {name}: {exc}"
            raise BrokerError(msg, context={"topic": name}) from exc
        finally:
            consumer.close()
        out = []
        for k, v in latest.items():
            if v is None:
                continue
            try:
                out.append(Record.decode(v))
            except DecodeError as exc:
                self.stats.bad_records += 1
                log.error("%s: %s: %s", self.stage, k.decode(errors="replace"), exc)
        return out
