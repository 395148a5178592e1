"""The sink's fast decoder never accepts what the pydantic contract refuses, and reads what it
accepts exactly as the contract does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.errors import InputError
from setpoint.ledger import Record, decode_record
from setpoint.schemas import LedgerEvent, Stage
from setpoint.streams.codec import decode, encode
from setpoint.streams.topics import LEDGER

texts = st.text(max_size=40)
payloads = st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), texts, st.none()))


@st.composite
def events(draw: st.DrawFn) -> LedgerEvent:
    return LedgerEvent(
        event_id=draw(st.text(min_size=1, max_size=30)),
        incident_id=draw(texts),
        ts=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=draw(st.integers(0, 10**9))),
        stage=draw(st.sampled_from(list(Stage))),
        event_type=draw(st.text(max_size=64)),
        entity_id=draw(texts),
        service=draw(texts),
        summary=draw(st.text(max_size=200)),
        payload=draw(payloads),
    )


@given(events())
def test_fast_path_reads_what_the_contract_reads(ev: LedgerEvent) -> None:
    fast = decode_record(encode(ev))
    slow = Record.from_event(decode(LEDGER, encode(ev)))
    assert fast is not None
    assert json.loads(fast.payload) == json.loads(slow.payload)
    assert fast.ts == slow.ts
    assert {f: getattr(fast, f) for f in fast.__struct_fields__ if f != "payload"} == {
        f: getattr(slow, f) for f in slow.__struct_fields__ if f != "payload"
    }


GOOD = {"event_id": "e1", "ts": "2026-01-01T00:00:00Z", "stage": "detect", "event_type": "x"}
MUTATIONS = [
    {"event_id": ""},
    {"event_id": 5},
    {"ts": "2026-01-01T00:00:00"},
    {"ts": "yesterday"},
    {"stage": "nowhere"},
    {"event_type": "x" * 65},
    {"summary": "s" * 1025},
    {"payload": [1, 2]},
    {"payload": "text"},
    {"schema_version": 2},
    {"kind": "anomaly"},
    {"extra": 1},
    {"incident_id": "i" * 129},
]


@pytest.mark.parametrize("change", MUTATIONS, ids=lambda c: next(iter(c)))
def test_fast_path_accepts_nothing_the_contract_refuses(change: dict[str, object]) -> None:
    raw = json.dumps({**GOOD, **change}).encode()
    try:
        decode(LEDGER, raw)
        accepted = True
    except InputError:
        accepted = False
    fast = decode_record(raw)
    assert accepted or fast is None


def test_bytes_that_are_not_utf8_inside_the_payload_go_to_the_contract() -> None:
    raw = json.dumps({**GOOD, "payload": {"a": "PLACEHOLDER"}}).encode()
    raw = raw.replace(b"PLACEHOLDER", b"\xff\xfe")
    assert decode_record(raw) is None
    with pytest.raises(InputError):
        decode(LEDGER, raw)
