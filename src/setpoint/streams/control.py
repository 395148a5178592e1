"""The kill switch from a terminal: publish a freeze, unfreeze, revocation or restore with the
next epoch on the control topic, and record it in the ledger. The actuator and every decide worker
read the control topic from its beginning and apply each event as it arrives."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from setpoint.clock import to_datetime
from setpoint.errors import BrokerError
from setpoint.ledger import events as le
from setpoint.policy import Revocations
from setpoint.schemas import ControlAction, ControlEvent, TrustRecord, new_id
from setpoint.settings import Settings
from setpoint.streams.codec import encode
from setpoint.streams.topicread import read_all
from setpoint.streams.topics import CONTROL, LEDGER, TRUST, full_name


def control_key(ev: ControlEvent) -> str:
    """Compaction keeps the latest event per key: per action and subject, so the latest freeze
    survives an unfreeze and a revocation survives its restore (the epochs still matter)."""
    return f"{ev.action}:{ev.agent}|{ev.verb}|{ev.scope}"


def current(settings: Settings) -> Revocations:
    """The kill switch's state as the control topic says now."""
    state = Revocations()
    for ev in read_all(settings, CONTROL):
        if isinstance(ev, ControlEvent):
            state.apply(ev)
    return state


def publish(
    settings: Settings,
    action: ControlAction,
    issued_by: str,
    *,
    agent: str = "*",
    verb: str = "*",
    scope: str = "*",
    reason: str = "",
) -> ControlEvent:
    """Publish ``action`` with the epoch after the current one, and its ledger record."""
    ev = ControlEvent(
        control_id=new_id("ctl"), action=action, epoch=current(settings).epoch + 1,
        ts=to_datetime(time.time()), agent=agent, verb=verb, scope=scope, issued_by=issued_by,
        reason=reason,
    )  # fmt: skip
    failed: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    p = Producer({"bootstrap.servers": settings.kafka_bootstrap(), "enable.idempotence": True})
    p.produce(full_name(settings.topic_prefix, CONTROL), key=control_key(ev).encode(),
              value=encode(ev), on_delivery=delivered)  # fmt: skip
    p.produce(full_name(settings.topic_prefix, LEDGER), key=b"", value=encode(le.control(ev)),
              on_delivery=delivered)  # fmt: skip
    if p.flush(15) or failed:
        msg = f"the {action} event was not delivered: {failed or 'timeout'}"
        raise BrokerError(msg, context={"control_id": ev.control_id})
    return ev


def trust_records(settings: Settings) -> list[TrustRecord]:
    """The latest record of every agent x verb x scope pair."""
    latest: dict[str, TrustRecord] = {}
    for rec in read_all(settings, TRUST):
        if isinstance(rec, TrustRecord) and rec.version >= latest.get(rec.key, rec).version:
            latest[rec.key] = rec
    return sorted(latest.values(), key=lambda r: (r.agent, r.verb, r.scope))
