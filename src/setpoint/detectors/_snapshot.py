"""Bytes for a service's detection state, for hand-over when a Kafka partition moves.

The format is a magic header, a version byte and a pickle. Unpickling is restricted to the
classes the state is made of: a checkpoint read back from a topic can rebuild detectors and
schemas, never call arbitrary code.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from setpoint.errors import DecodeError

_MAGIC = b"SPDS"
_VERSION = 1
_ALLOWED_MODULES = ("setpoint.detectors.", "setpoint.schemas.")
_ALLOWED_GLOBALS = {
    ("array", "array"),
    ("array", "_array_reconstructor"),
    ("builtins", "frozenset"),
    ("builtins", "set"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_ALLOWED_MODULES) or (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        msg = f"detection snapshot refers to {module}.{name}, which a snapshot never contains"
        raise DecodeError(msg, context={"module": module, "name": name})


def dump(state: Any) -> bytes:
    """Serialise ``state`` (detectors, alerters, schemas, plain containers)."""
    return _MAGIC + bytes([_VERSION]) + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def load(data: bytes) -> Any:
    """The state ``dump`` wrote; a ``DecodeError`` for anything else."""
    if data[:4] != _MAGIC or len(data) < 6:
        msg = "not a detection snapshot (bad header)"
        raise DecodeError(msg, context={"head": data[:8].hex()})
    if data[4] != _VERSION:
        msg = f"detection snapshot version {data[4]} is not supported (expected {_VERSION})"
        raise DecodeError(msg, context={"version": data[4]})
    try:
        return _Unpickler(io.BytesIO(data[5:])).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as exc:
        msg = f"detection snapshot is corrupt: {exc}"
        raise DecodeError(msg) from exc
