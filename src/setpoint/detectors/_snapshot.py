"""Bytes for a service's detection state, for hand-over when a Kafka partition moves: the shared
restricted format of :mod:`setpoint.snapshot`, rebuilding only detectors and schemas."""

from __future__ import annotations

from typing import Any

from setpoint import snapshot

_MODULES = ("setpoint.detectors", "setpoint.schemas")


def dump(state: Any) -> bytes:
    """Serialise ``state`` (detectors, alerters, schemas, plain containers)."""
    return snapshot.dump(state)


def load(data: bytes) -> Any:
    """The state ``dump`` wrote; a ``DecodeError`` for anything else."""
    return snapshot.load(data, _MODULES)
