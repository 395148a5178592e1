"""The row the ledger stores for one event, and the fast decoder the sink reads the topic with.

A ``Record`` is a ``LedgerEvent`` with its payload kept as JSON text: the sink never needs the
payload as Python objects, only as the exact text it stores and hashes. Building a dict of every
payload costs more than the rest of the sink together, so ``decode_record`` validates the
envelope with msgspec and keeps the payload's bytes as they came (``msgspec.Raw``).

The authority on what a ledger event is stays the pydantic ``LedgerEvent``: the fast decoder
accepts a strict subset of what it accepts (a test holds it to that), and anything the fast path
declines is decoded by the pydantic codec, which accepts it or names what is wrong.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from setpoint.schemas import LedgerEvent, Stage

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Ref = Annotated[str, msgspec.Meta(max_length=128)]
_STAGES = frozenset(s.value for s in Stage)


class Record(msgspec.Struct, frozen=True, gc=False):
    """One ledger entry before it is chained: the event's fields, the payload as JSON text."""

    event_id: str
    incident_id: str
    ts: datetime
    stage: str
    event_type: str
    entity_id: str
    service: str
    summary: str
    payload: str
    schema_version: int = 1

    @classmethod
    def from_event(cls, ev: LedgerEvent) -> Record:
        """The record of a validated event (its payload serialised with sorted keys).

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> ev = LedgerEvent(event_id="e1", ts=datetime(2026, 1, 1, tzinfo=UTC),
        ...                  stage="detect", event_type="x", payload={"b": 1, "a": 2})
        >>> Record.from_event(ev).payload
        '{"a":2,"b":1}'
        """
        return cls(
            event_id=ev.event_id,
            incident_id=ev.incident_id,
            ts=ev.ts,
            stage=str(ev.stage),
            event_type=ev.event_type,
            entity_id=ev.entity_id,
            service=ev.service,
            summary=ev.summary,
            payload=payload_json(ev.payload),
            schema_version=ev.schema_version,
        )


def payload_json(payload: dict[str, Any]) -> str:
    """A payload as compact JSON with sorted keys (integers past 64 bits included, which orjson
    refuses: the standard library writes those).

    Examples
    --------
    >>> payload_json({"b": 2**70, "a": "é"})
    '{"a":"é","b":1180591620717411303424}'
    """
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The ``ledger`` topic's JSON, as strict as ``LedgerEvent`` on every envelope field."""

    event_id: _Id
    ts: datetime
    stage: str
    event_type: Annotated[str, msgspec.Meta(max_length=64)]
    incident_id: _Ref = ""
    entity_id: _Ref = ""
    service: _Ref = ""
    summary: Annotated[str, msgspec.Meta(max_length=1024)] = ""
    payload: msgspec.Raw = msgspec.Raw(b"{}")
    schema_version: Literal[1] = 1
    kind: Literal["ledger_event"] = "ledger_event"


_DECODER = msgspec.json.Decoder(_Wire)


def decode_record(raw: bytes) -> Record | None:
    """The record in ``raw``, or ``None`` when the fast path declines it (decode it with the
    pydantic codec then: it accepts what this path is unsure of, and explains what it refuses).

    Examples
    --------
    >>> r = decode_record(b'{"event_id":"e1","ts":"2026-01-01T00:00:00Z","stage":"detect",'
    ...                   b'"event_type":"x","payload":{"z": 1}}')
    >>> r.event_id, r.payload, r.ts.isoformat()
    ('e1', '{"z": 1}', '2026-01-01T00:00:00+00:00')
    >>> decode_record(b'{"event_id":"e1","ts":"2026-01-01T00:00:00","stage":"detect",'
    ...               b'"event_type":"x"}') is None  # a naive time: the slow path decides
    True
    """
    try:
        w = _DECODER.decode(raw)
    except msgspec.DecodeError:
        return None
    payload = bytes(w.payload)
    if w.ts.tzinfo is None or w.stage not in _STAGES or not payload.startswith(b"{"):
        return None
    try:
        text = payload.decode()  # msgspec skips a raw span without checking its encoding
    except UnicodeDecodeError:
        return None
    return Record(
        event_id=w.event_id,
        incident_id=w.incident_id,
        ts=w.ts,
        stage=w.stage,
        event_type=w.event_type,
        entity_id=w.entity_id,
        service=w.service,
        summary=w.summary,
        payload=text,
        schema_version=w.schema_version,
    )
