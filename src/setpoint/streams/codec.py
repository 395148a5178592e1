"""The one codec: bytes on a topic <-> validated schema values, and dead letters for the rest."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from setpoint.clock import to_datetime
from setpoint.errors import DecodeError, InputError, SchemaError
from setpoint.schemas import DeadLetter, new_id
from setpoint.streams.topics import TopicSpec, adapter

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
    error: InputError,
    *,
    now: float,
    partition: int = -1,
    offset: int = -1,
    key: bytes | None = None,
) -> DeadLetter:
    """The record kept for a message that could not be accepted."""
    data = raw or b""
    # Deterministic when the message's coordinates are known: a redelivered bad message is
    # recognised as the same dead letter, not stored twice.
    ident = f"dl-{topic}-{partition}-{offset}" if offset >= 0 else new_id("dl")
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
