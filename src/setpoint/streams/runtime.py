"""What the agents of one process share: the Faust app, its topics, the event clock, and the
helpers that send, record and dead-letter. Agents call these; they hold no logic of their own."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import faust
from pydantic import BaseModel

from setpoint.clock import EventClock
from setpoint.errors import InputError
from setpoint.schemas import LedgerEvent
from setpoint.settings import Settings
from setpoint.streams.codec import dead_letter, decode, encode
from setpoint.streams.topics import DEADLETTER, LEDGER, TOPICS, TopicSpec, full_name

log = logging.getLogger("setpoint.streams")


def build_app(settings: Settings, app_id: str) -> faust.App:
    """A Faust app that never declares topics (the project creates them) and keeps no web UI."""
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
        stream_buffer_maxsize=8192,
        broker_commit_every=1000,
    )


class Runtime:
    """Topics by spec, the event clock and counters of one worker process."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.clock = EventClock()
        self.counters: dict[str, int] = {}
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

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    async def send(self, spec: TopicSpec, key: str, value: BaseModel) -> None:
        await self._topics[spec.name].send(key=key.encode(), value=encode(value))
        self.count(f"out.{spec.name}")

    async def record(self, events: Iterable[LedgerEvent]) -> None:
        for ev in events:
            await self.send(LEDGER, ev.incident_id, ev)

    async def accept(self, event: Any) -> tuple[TopicSpec, Any] | None:
        """Decode one Faust event; a bad one is dead-lettered with its reason and ``None`` comes
        back (the worker carries on)."""
        msg = event.message
        spec = self.spec_of(msg.topic)
        try:
            value = decode(spec, event.value)
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
