"""What the agents of one process share: the Faust app, its topics, the event clock, and the
helpers that send, record and dead-letter. Agents call these; they hold no logic of their own.

This module holds the project's one ``except Exception``: :meth:`Runtime.call` runs a stage call
and turns whatever it raises by surprise into a dead letter (code ``internal``) for the input
that caused it, so a bug costs one message, never the agent (STYLE.md, Errors).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import faust
from pydantic import BaseModel

from setpoint.clock import EventClock
from setpoint.errors import ClockSkewError, InputError, InternalError
from setpoint.schemas import DeadLetter, LedgerEvent
from setpoint.settings import Settings
from setpoint.streams.codec import Points, dead_letter, decode_fast, encode
from setpoint.streams.topics import DEADLETTER, LEDGER, TOPICS, TopicSpec, full_name

log = logging.getLogger("setpoint.streams")
T = TypeVar("T")
MAX_STATE_BYTES = 8 * 1024 * 1024
"""Largest message the workers produce (a checkpoint of a big domain)."""


def build_app(settings: Settings, app_id: str) -> faust.App:
    """A Faust app that never declares topics (the project creates them) and keeps no web UI.

    ``stream_wait_empty`` is off: the stages ack their input only once a checkpoint covers it
    (``streams/handover.py``), so a rebalance must not wait for acks that a checkpoint gives.
    """
    return faust.App(
        app_id,
        broker=settings.faust_broker(),
        value_serializer="raw",
        key_serializer="raw",
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        store="memory://",
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        producer_max_request_size=MAX_STATE_BYTES + 65536,
        stream_buffer_maxsize=8192,
        stream_wait_empty=False,
        broker_commit_every=1000,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )


class Runtime:
    """Topics by spec, the event clock and counters of one worker process."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.clock = EventClock(max_step_s=settings.clock_max_step_s or None, wall=time.time)
        self.counters: dict[str, int] = {}
        self._failed: list[DeadLetter] = []
        self._topics = {
            s.name: app.topic(
                full_name(settings.topic_prefix, s),
                key_type=bytes,
                value_type=bytes,
                partitions=s.partitions or settings.partitions,
            )
            for s in TOPICS
        }
        self._by_full = {full_name(settings.topic_prefix, s): s for s in TOPICS}

    def topic(self, *specs: TopicSpec) -> Any:
        """A channel over one or more topics (an agent's input)."""
        names = [full_name(self.settings.topic_prefix, s) for s in specs]
        return self.app.topic(*names, key_type=bytes, value_type=bytes)

    def spec_of(self, topic_name: str) -> TopicSpec:
        return self._by_full[topic_name]

    def name_of(self, spec: TopicSpec) -> str:
        return full_name(self.settings.topic_prefix, spec)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    async def send(self, spec: TopicSpec, key: str, value: BaseModel) -> None:
        await self._topics[spec.name].send(key=key.encode(), value=encode(value))
        self.count(f"out.{spec.name}")

    async def send_raw(
        self, spec: TopicSpec, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> Any:
        """Send bytes as they are; returns the delivery future (await it to know it landed)."""
        self.count(f"out.{spec.name}")
        return await self.app.producer.send(self.name_of(spec), key, value, partition, None, None)

    async def record(self, events: Iterable[LedgerEvent]) -> None:
        for ev in events:
            await self.send(LEDGER, ev.incident_id, ev)

    async def accept(self, event: Any) -> tuple[TopicSpec, Any] | None:
        """Decode one Faust event; a bad one is dead-lettered with its reason and ``None`` comes
        back (the worker carries on). A metric batch comes back lean (:class:`Points`)."""
        msg = event.message
        spec = self.spec_of(msg.topic)
        try:
            value = decode_fast(spec, event.value)
            self._check_time(value)
        except InputError as exc:
            self.count(f"dead.{spec.name}")
            dl = dead_letter(
                msg.topic,
                event.value,
                exc,
                now=time.time(),  # when it was refused: receipt time, not a claimed event time
                partition=msg.partition,
                offset=msg.offset,
                key=event.key,
            )
            await self.send(DEADLETTER, spec.name, dl)  # the ledger sink records it from there
            log.warning("dead-lettered %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, exc)
            return None
        self.count(f"in.{spec.name}")
        return spec, value

    def _check_time(self, value: Any) -> None:
        """Refuse event times implausibly far from this worker's wall clock (a producer's broken
        clock, a hostile timestamp): they would drag event time, or be evicted on arrival."""
        ahead, behind = self.settings.max_future_s, self.settings.max_past_s
        if not (ahead or behind):
            return
        if isinstance(value, Points):
            lo, hi = value.t_min, value.t_max
        elif (ts := getattr(value, "ts", None)) is not None:
            lo = hi = ts.timestamp()
        else:
            return
        wall = time.time()
        if ahead and hi > wall + ahead:
            msg = f"event time {hi:.0f} is {hi - wall:.0f}s ahead of this worker's clock"
            raise ClockSkewError(msg + f" (limit {ahead:.0f}s: check the producer's clock)")
        if behind and lo < wall - behind:
            msg = f"event time {lo:.0f} is {wall - lo:.0f}s behind this worker's clock"
            raise ClockSkewError(msg + f" (limit {behind:.0f}s)")

    # -- the one boundary ----------------------------------------------------------------------
    def call(
        self, fn: Callable[..., T], *args: Any, source: Any = None, where: str = ""
    ) -> T | None:
        """``fn(*args)``, a stage call; if it raises something unexpected, the input that caused it
        (``source``, a Faust event; ``None`` for a timer) is dead-lettered with code ``internal``
        by the next :meth:`settle`, and ``None`` comes back."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the one boundary (STYLE.md, Errors)
            self._failed.append(self._internal(exc, source, where or _name(fn)))
            return None

    async def settle(self) -> None:
        """Dead-letter what :meth:`call` caught since the last time."""
        failed, self._failed = self._failed, []
        for dl in failed:
            await self.send(DEADLETTER, dl.topic, dl)

    def _internal(self, exc: Exception, source: Any, where: str) -> DeadLetter:
        frame = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else ""
        err = InternalError(f"{where}: {type(exc).__name__}: {exc}{at}")
        self.count(f"internal.{where}")
        log.error("%s (input dead-lettered, the agent carries on)", err.message, exc_info=exc)
        if source is None:
            return dead_letter(f"timer:{where}", b"", err, now=time.time())
        msg = source.message
        return dead_letter(
            msg.topic,
            source.value,
            err,
            now=time.time(),
            partition=msg.partition,
            offset=msg.offset,
            key=source.key,
            where=where,
        )


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", getattr(fn, "__name__", "stage")))
