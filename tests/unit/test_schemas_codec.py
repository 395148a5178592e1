"""Contracts: frozen, strict, versioned; the codec turns bad bytes into typed errors."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from setpoint.errors import DecodeError, SchemaError, all_error_classes
from setpoint.schemas import MetricSample
from setpoint.streams.codec import MAX_MESSAGE_BYTES, dead_letter, decode, encode
from setpoint.streams.topics import COMMANDS, METRICS, TOPICS, json_schema_for

SAMPLE = {"service": "api", "name": "latency_p99_ms", "value": 12.5, "ts": "2026-01-01T00:00:00Z"}


def test_schema_values_are_frozen_and_reject_unknown_fields() -> None:
    m = decode(METRICS, json.dumps(SAMPLE).encode())
    with pytest.raises(ValidationError):
        m.value = 3.0  # type: ignore[misc]
    with pytest.raises(SchemaError, match="Extra inputs are not permitted"):
        decode(METRICS, json.dumps({**SAMPLE, "surprise": 1}).encode())


def test_encode_decode_round_trip() -> None:
    m = decode(METRICS, json.dumps(SAMPLE).encode())
    assert decode(METRICS, encode(m)) == m
    assert m.schema_version == 1


@pytest.mark.parametrize(
    ("raw", "error", "text"),
    [
        (b"", DecodeError, "empty"),
        (b"{nope", DecodeError, "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, DecodeError, "not valid JSON|recursion"),
        (json.dumps({**SAMPLE, "value": "NaN"}).encode(), SchemaError, "finite"),
        (json.dumps({**SAMPLE, "ts": "2026-01-01T00:00:00"}).encode(), SchemaError, "timezone"),
        (json.dumps({**SAMPLE, "service": "x" * 500}).encode(), SchemaError, "service"),
        (json.dumps({"kind": "bogus"}).encode(), SchemaError, "bogus"),
    ],
)
def test_bad_input_gets_a_typed_error(raw: bytes, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        decode(METRICS, raw)


def test_oversized_message_is_refused_unread() -> None:
    with pytest.raises(DecodeError, match="exceeds the limit"):
        decode(METRICS, b" " * (MAX_MESSAGE_BYTES + 1))


def test_unknown_verb_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="verb"):
        decode(COMMANDS, json.dumps({"verb": "reboot_the_world"}).encode())


def test_dead_letter_keeps_the_reason_and_a_bounded_copy() -> None:
    raw = b"x" * 100_000
    try:
        decode(METRICS, raw)
    except DecodeError as exc:
        dl = dead_letter("t", raw, exc, now=0.0, partition=1, offset=7)
    assert dl.reason_code == "input.decode"
    assert dl.raw_size == 100_000 and len(dl.raw) < 10_000
    assert dl.dead_letter_id == "dl-t-1-7"


@given(st.binary(max_size=300))
def test_decoder_never_raises_anything_but_input_errors(raw: bytes) -> None:
    for spec in TOPICS:
        with contextlib.suppress(DecodeError, SchemaError):
            decode(spec, raw)


def test_every_topic_exports_a_json_schema() -> None:
    for spec in TOPICS:
        schema = json_schema_for(spec)
        assert schema["$id"].startswith(f"setpoint:{spec.name}:")


def test_error_codes_are_unique_and_dotted_by_parent() -> None:
    classes = all_error_classes()
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for c in classes[1:]:
        parent = next(b for b in c.__mro__[1:] if getattr(b, "code", None) and b.code != c.code)
        assert c.code.startswith(parent.code.split(".")[0]) or parent.code == "setpoint"


def test_metric_sample_needs_an_aware_timestamp() -> None:
    with pytest.raises(ValidationError):
        MetricSample(service="a", name="b", value=1.0, ts="2026-01-01T00:00:00")  # type: ignore[arg-type]
