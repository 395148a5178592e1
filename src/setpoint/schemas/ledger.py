"""What every stage records: ledger events (the ledger sink chains and stores them) and
dead letters (bad input kept with the reason)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from setpoint.schemas.base import Event, Id, LongText, ShortText, Timestamp


class Stage(StrEnum):
    DETECT = "detect"
    DIAGNOSE = "diagnose"
    DECIDE = "decide"
    EXECUTE = "execute"
    VERIFY = "verify"
    RECORD = "record"
    CONTROL = "control"
    INTAKE = "intake"


class LedgerEvent(Event):
    """One step of an incident's story. ``incident_id`` is empty only for anomalies that never
    joined an incident and for control events."""

    kind: Literal["ledger_event"] = "ledger_event"
    event_id: Id
    incident_id: Annotated[str, Field(max_length=128)] = ""
    ts: Timestamp
    stage: Stage
    event_type: Annotated[str, Field(max_length=64)]
    entity_id: Annotated[str, Field(max_length=128)] = ""
    service: Annotated[str, Field(max_length=128)] = ""
    summary: ShortText = ""
    payload: dict[str, Any] = Field(default_factory=dict)


class DeadLetter(Event):
    """A message a stage could not accept, kept with the reason so nothing is silently dropped."""

    kind: Literal["dead_letter"] = "dead_letter"
    dead_letter_id: Id
    topic: Annotated[str, Field(max_length=256)]
    partition: int = -1
    offset: int = -1
    key: Annotated[str, Field(max_length=1024)] = ""
    reason_code: Annotated[str, Field(max_length=64)]
    reason: ShortText
    raw: LongText
    raw_size: int = 0
    ts: Timestamp
