"""Fuzzing the edge: whatever bytes arrive on any topic, decoding either yields a valid value or
raises an ``InputError`` (which the runtime dead-letters); never anything else. The lean
metric-batch path accepts nothing the schema refuses and reads every point as the schema does.
Checkpoint records and state snapshots read back from a topic fail the same contained way."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from setpoint import snapshot
from setpoint.errors import DecodeError, InputError
from setpoint.streams.codec import decode, decode_points
from setpoint.streams.handover import Record
from setpoint.streams.topics import METRICS, TOPICS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)


def _mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Valid values three times in four: enough valid batches for the lean path to be tried."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good),
                     st.sampled_from(bad))  # fmt: skip


names = _mostly(["cpu", "latency_p99_ms", "error_rate", "a.b:c/d-e", "_x"],
                ["9bad", "", "cpu\n", "x" * 129, "ünï", "cpu mem", 5])  # fmt: skip
services = _mostly(["api", "svc-00001", "a.b:c/d-e", "9"], ["", "-api", "api\n", "x" * 129, "é"])
times = st.one_of(
    st.integers(min_value=0, max_value=2 * 10**9),
    st.integers(min_value=10**9, max_value=2 * 10**9),
    st.floats(min_value=1e9, max_value=2e9, allow_nan=False),
    st.floats(min_value=0, max_value=2e9, allow_nan=False),
    st.integers(min_value=-(10**12), max_value=10**13),
    st.floats(min_value=-1e12, max_value=1e14, allow_nan=False),
    st.sampled_from([1.7e9, 2e10, 2e10 + 1, 1.7e12, True, "1700000000", "2026-01-01T00:00:00Z",
                     None, float("nan"), float("inf")]),
)  # fmt: skip
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([True, False, "1.5", None, [1]]),
)
points = st.fixed_dictionaries(
    {"name": names, "value": values, "ts": times},
    optional={
        "instance": _mostly(["", "i-1", "x" * 128], ["x" * 129, 7, None]),
        "schema_version": _mostly([1], [1.0, 2, True]),
    },
) | st.fixed_dictionaries({"name": names, "value": values, "ts": times, "kind": st.just("metric")})
batches = st.fixed_dictionaries(
    {"kind": _mostly(["metric_batch"], ["metric", "log", None]),
     "service": services,
     "points": st.lists(points, min_size=0, max_size=4)},
    optional={"schema_version": _mostly([1], [1.0, 2])},
)  # fmt: skip


def _lean(value: Any) -> list[tuple[str, float, float, str]]:
    return [(p.name, p.value, p.ts.timestamp(), p.instance) for p in value.points]


@FUZZ
@given(st.sampled_from(TOPICS), st.binary(max_size=300))
def test_any_bytes_on_any_topic_decode_or_raise_an_input_error(spec: Any, raw: bytes) -> None:
    with contextlib.suppress(InputError):
        decode(spec, raw)
    decode_points(raw)  # never raises


@FUZZ
@given(st.sampled_from(TOPICS), json_values)
def test_any_json_on_any_topic_decodes_or_raises_an_input_error(spec: Any, doc: Any) -> None:
    raw = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if _dumpable(doc) else b"[]"
    with contextlib.suppress(InputError):
        decode(spec, raw)


@FUZZ
@given(batches)
def test_the_lean_batch_path_agrees_with_the_schema(doc: dict[str, Any]) -> None:
    raw = _dump(doc)
    lean = decode_points(raw)
    try:
        full = decode(METRICS, raw)
    except InputError:
        assert lean is None, f"the lean path accepted what the schema refuses: {raw!r}"
        return
    if lean is not None:
        assert (lean.service, lean.points) == (full.service, _lean(full))
        assert lean.t_min == min(p[2] for p in lean.points)
        assert lean.t_max == max(p[2] for p in lean.points)


def test_the_lean_path_takes_the_common_case() -> None:
    doc = {"kind": "metric_batch", "service": "api",
           "points": [{"name": "cpu", "value": 0.5, "ts": 1.7e9, "instance": "i-1"},
                      {"name": "cpu", "value": 3, "ts": 1_700_000_001}]}  # fmt: skip
    lean = decode_points(orjson.dumps(doc))
    assert lean is not None and lean.points == _lean(decode(METRICS, orjson.dumps(doc)))


@FUZZ
@given(st.binary(max_size=200))
def test_checkpoint_records_and_snapshots_fail_contained(raw: bytes) -> None:
    for data in (raw, b"SPCK\x01" + raw, b"SPDS\x01" + raw):
        with contextlib.suppress(DecodeError):
            Record.decode(data)
        with contextlib.suppress(DecodeError):
            snapshot.load(data, ("setpoint.schemas",))


def _dumpable(doc: Any) -> bool:
    try:
        orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


def _dump(doc: Any) -> bytes:
    """JSON the way a careless producer writes it: NaN and infinities as bare literals."""
    import json

    return json.dumps(doc, allow_nan=True).encode() if _has_nonfinite(doc) else orjson.dumps(doc)


def _has_nonfinite(doc: Any) -> bool:
    if isinstance(doc, float):
        return not math.isfinite(doc)
    if isinstance(doc, dict):
        return any(_has_nonfinite(v) for v in doc.values())
    if isinstance(doc, list):
        return any(_has_nonfinite(v) for v in doc)
    return False
