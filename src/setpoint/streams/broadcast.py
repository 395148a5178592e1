"""Broadcast topics: every worker reads every partition (changes, silences, the control epoch).

A Kafka consumer group would give each worker only some partitions; context that every worker
needs (a deploy anywhere, a revocation) is read here instead, by a plain consumer that assigns
itself all partitions, in a thread that hands each decoded value to the asyncio loop.

``barrier()`` makes a reader a synchronisation point: it returns once every event the broker had
accepted when it was called has been handed over (the actuator calls it before each command, so
a revocation acknowledged before the command is checked always applies to it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from setpoint.errors import InputError
from setpoint.settings import Settings
from setpoint.streams.codec import decode
from setpoint.streams.topics import TopicSpec, full_name

Handler = Callable[[TopicSpec, Any], None]
BadHandler = Callable[[TopicSpec, bytes | None, tuple[str, int], int, InputError], None]
log = logging.getLogger("setpoint.streams")


class BroadcastReader:
    """Reads ``specs`` from ``lookback_s`` ago (or the beginning) on every worker.

    ``ready`` is set once every partition has been read up to its end at start-up, so a stage can
    wait for its context (e.g. an actuator must know the current epoch before it executes).
    """

    def __init__(
        self,
        settings: Settings,
        specs: list[TopicSpec],
        handler: Handler,
        lookback_s: float | None = None,
        on_bad: BadHandler | None = None,
    ) -> None:
        self.settings = settings
        self.specs = specs
        self.handler = handler
        self.lookback_s = lookback_s
        self.on_bad = on_bad
        self.ready = threading.Event()
        self.bad_messages = 0
        self.failed = False
        self._applied: dict[tuple[str, int], int] = {}
        self._tps: list[tuple[str, int]] = []
        self._probe: Consumer | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="broadcast", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading; values are handed to ``handler`` on ``loop``'s thread."""
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._probe is not None:
            self._probe.close()

    def _assign(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        by_name = {full_name(self.settings.topic_prefix, s): s for s in self.specs}
        meta = consumer.list_topics(timeout=10.0).topics
        parts = [TopicPartition(n, p) for n in by_name if n in meta for p in meta[n].partitions]
        if self.lookback_s is not None:
            ms = int((time.time() - self.lookback_s) * 1000)
            for tp in parts:
                tp.offset = ms
            parts = consumer.offsets_for_times(parts, timeout=10.0)
        else:
            for tp in parts:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(parts)
        self._tps = [(tp.topic, tp.partition) for tp in parts]
        ends = {}
        for tp in parts:
            _, high = consumer.get_watermark_offsets(tp, timeout=10.0)
            ends[(tp.topic, tp.partition)] = high
        return ends

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap(),
                "group.id": f"{self.settings.app_id}-broadcast-unused",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        by_name = {full_name(self.settings.topic_prefix, s): s for s in self.specs}
        try:
            ends = self._assign_retrying(consumer)
            pending = {k: v for k, v in (ends or {}).items() if v > 0}
            if ends is not None and not pending:
                self.ready.set()
            while ends is not None and not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                key = (msg.topic() or "", msg.partition() or 0)
                if key in pending and (msg.offset() or 0) + 1 >= pending[key]:
                    del pending[key]
                    if not pending:
                        self.ready.set()
                self._deliver(by_name[key[0]], msg.value(), key, msg.offset() or 0)
        except KafkaException:
            # Fail closed: ``ready`` stays unset and ``barrier`` says no, so an actuator waiting
            # on its control state executes nothing rather than execute without it.
            self.failed = True
            log.exception("broadcast reader of %s stopped", [s.name for s in self.specs])
        finally:
            consumer.close()

    def _assign_retrying(self, consumer: Consumer) -> dict[tuple[str, int], int] | None:
        """Assign every partition, retrying while the broker is not ready (a topic just created
        has no leader for a moment); ``None`` once stopped."""
        while not self._stop.is_set():
            try:
                return self._assign(consumer)
            except KafkaException as exc:
                log.warning("broadcast reader: cannot assign yet (%s); retrying", exc)
                self._stop.wait(0.5)
        return None

    def _deliver(self, spec: TopicSpec, raw: bytes | None, tp: tuple[str, int], off: int) -> None:
        try:
            value = decode(spec, raw)
        except InputError as exc:
            # Counted, never fatal; dead-lettered by ``on_bad`` where no agent reads the topic.
            self.bad_messages += 1
            value = None
            if self._loop is not None and self.on_bad is not None:
                self._loop.call_soon_threadsafe(self.on_bad, spec, raw, tp, off, exc)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply, spec, value, tp, off)

    def _apply(self, spec: TopicSpec, value: Any, tp: tuple[str, int], off: int) -> None:
        if value is not None:
            self.handler(spec, value)
        self._applied[tp] = max(self._applied.get(tp, 0), off + 1)

    async def barrier(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything on the topics as of now has been handed over; ``False`` if that
        could not be confirmed within ``timeout_s`` (the caller should then fail closed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        marks = await asyncio.to_thread(self._high_marks, timeout_s)
        if marks is None:
            return False
        while any(self._applied.get(tp, 0) < high for tp, high in marks.items()):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def _high_marks(self, timeout_s: float) -> dict[tuple[str, int], int] | None:
        if self.failed or not self.ready.is_set():
            return None
        if self._probe is None:
            conf = {"bootstrap.servers": self.settings.kafka_bootstrap(),
                    "group.id": f"{self.settings.app_id}-barrier-unused"}  # fmt: skip
            self._probe = Consumer(conf)
        try:
            return {
                tp: self._probe.get_watermark_offsets(
                    TopicPartition(*tp), timeout=timeout_s, cached=False
                )[1]
                for tp in self._tps
            }
        except KafkaException:
            return None
