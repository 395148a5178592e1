"""The one codec: bytes on a topic <-> validated schema values, and dead letters for the rest."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from setpoint.clock import to_datetime
from setpoint.errors import DecodeError, SchemaError, SetpointError
from setpoint.schemas import DeadLetter, new_id
from setpoint.streams.topics import METRICS, TopicSpec, adapter

MAX_MESSAGE_BYTES = 512 * 1024
"""Larger messages are dead-lettered unread (a hostile or broken producer)."""
_RAW_KEEP = 8192


def encode(value: BaseModel) -> bytes:
    """A schema value as the JSON bytes that go on its topic."""
    return value.model_dump_json().encode()


def decode(spec: TopicSpec, raw: bytes | None) -> Any:
    """Validate ``raw`` against the payload schema of ``spec``.

    Raises
    ------
    DecodeError
        Empty, too large, or not JSON.
    SchemaError
        JSON that does not match the topic's schema (the first errors are in the message).

    Examples
    --------
    >>> from setpoint.streams.topics import METRICS
    >>> decode(METRICS, b'{"service":"api","name":"cpu","value":0.5,"ts":0}').service
    'api'
    >>> decode(METRICS, b'{"service":"api"')
    Traceback (most recent call last):
    ...
    setpoint.errors.DecodeError: not valid JSON: EOF while parsing an object at line 1 column 16
    """
    if not raw:
        raise DecodeError("empty message", context={"topic": spec.name})
    if len(raw) > MAX_MESSAGE_BYTES:
        msg = f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
        raise DecodeError(msg, context={"topic": spec.name, "size": len(raw)})
    try:
        return adapter(spec).validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            msg = f"not valid JSON: {errors[0]['msg'].removeprefix('Invalid JSON: ')}"
            raise DecodeError(msg, context={"topic": spec.name}) from exc
        parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors[:5]]
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        msg = "; ".join(parts) + more
        raise SchemaError(msg, context={"topic": spec.name, "errors": len(errors)}) from exc


def dead_letter(
    topic: str,
    raw: bytes | None,
    error: SetpointError,
    *,
    now: float,
    partition: int = -1,
    offset: int = -1,
    key: bytes | None = None,
    where: str = "",
) -> DeadLetter:
    """The record kept for a message that could not be accepted (``where``: the stage that
    failed on it, when it was not the decoding)."""
    data = raw or b""
    # Deterministic when the message's coordinates are known: a redelivered bad message is
    # recognised as the same dead letter, not stored twice.
    ident = f"dl-{topic}-{partition}-{offset}" if offset >= 0 else new_id("dl")
    if where:
        ident += f"-{where}"
    return DeadLetter(
        dead_letter_id=ident[:128],
        topic=topic,
        partition=partition,
        offset=offset,
        key=(key or b"")[:256].decode("utf-8", "replace"),
        reason_code=error.code,
        reason=error.message[:1000],
        raw=data[:_RAW_KEEP].decode("utf-8", "replace"),
        raw_size=len(data),
        ts=to_datetime(now),
    )


class Points(NamedTuple):
    """A ``MetricBatch`` in its lean form: the service and ``(name, value, t, instance)`` per
    point, with the earliest and latest time (what the detect stage and the edge checks need)."""

    service: str
    points: list[tuple[str, float, float, str]]
    t_min: float
    t_max: float


_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,127}")
_BATCH_KEYS = frozenset({"kind", "schema_version", "service", "points"})
_POINT_KEYS = frozenset({"name", "value", "ts", "instance", "schema_version"})
_TIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_names: set[str] = set()
_NAMES_KEPT = 100_000


def decode_points(raw: bytes | None) -> Points | None:
    """The lean path for a metric batch: ``Points`` when ``raw`` is a plain, valid
    ``MetricBatch`` (numbers for values and times), else ``None`` and :func:`decode` decides.

    It accepts nothing the schema refuses and reads every value as the schema does (times go
    through the schema's own datetime rules, once per distinct time in the batch); anything
    unusual (a time as a string, a boolean value, a schema_version of 1.0) falls back.

    Examples
    --------
    >>> lean = decode_points(b'{"kind":"metric_batch","service":"api","points":'
    ...     b'[{"name":"cpu","value":0.5,"ts":60},{"name":"cpu","value":1,"ts":120}]}')
    >>> lean.service, lean.points, lean.t_max
    ('api', [('cpu', 0.5, 60.0, ''), ('cpu', 1.0, 120.0, '')], 120.0)
    >>> decode_points(b'{"service":"api","name":"cpu","value":0.5,"ts":0}') is None  # a sample
    True
    """
    if not raw or len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or doc.get("kind") != "metric_batch" or not doc.keys() <= _BATCH_KEYS:
        return None
    service, items = doc.get("service"), doc.get("points")
    if not _version_ok(doc) or type(service) is not str or not _SERVICE.fullmatch(service):
        return None
    if type(items) is not list or not 1 <= len(items) <= 10000:
        return None
    return _points(service, items)


def _version_ok(doc: dict[str, Any]) -> bool:
    v = doc.get("schema_version", 1)
    return type(v) is int and v == 1


def _points(service: str, items: list[Any]) -> Points | None:
    out: list[tuple[str, float, float, str]] = []
    times: dict[Any, float] = {}
    for p in items:
        if type(p) is not dict or not p.keys() <= _POINT_KEYS or not _version_ok(p):
            return None
        name, value, ts, instance = (
            p.get("name"),
            p.get("value"),
            p.get("ts"),
            p.get("instance", ""),
        )
        if type(name) is not str or (name not in _names and not _good_name(name)):
            return None
        if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
            return None
        if type(instance) is not str or len(instance) > 128:
            return None
        if type(ts) not in (int, float):
            return None
        t = times.get(ts)
        if t is None:
            try:
                t = times[ts] = _TIME.validate_python(ts).timestamp()
            except (ValidationError, OverflowError, ValueError):
                return None
        out.append((name, float(value), t, instance))  # type: ignore[arg-type]
    return Points(service, out, min(times.values()), max(times.values()))


def _good_name(name: str) -> bool:
    if not _METRIC.fullmatch(name):
        return False
    if len(_names) >= _NAMES_KEPT:
        _names.clear()
    _names.add(name)
    return True


def decode_fast(spec: TopicSpec, raw: bytes | None) -> Any:
    """:func:`decode`, through the lean path where there is one (metric batches)."""
    if spec is METRICS:
        lean = decode_points(raw)
        if lean is not None:
            return lean
    return decode(spec, raw)
