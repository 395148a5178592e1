"""Bytes for a stage's keyed state, for hand-over when a Kafka partition moves to another worker.

The format is a magic header, a version byte and a pickle. Unpickling is restricted to the
classes the states are made of (the stage packages' own classes, schemas, numpy arrays and a few
containers): a checkpoint read back from a topic can rebuild stage state, never call arbitrary
code. Each stage names the packages its state may come from.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from setpoint.errors import DecodeError

_MAGIC = b"SPDS"
_VERSION = 1
_ALLOWED_GLOBALS = {
    ("array", "array"),
    ("array", "_array_reconstructor"),
    ("builtins", "frozenset"),
    ("builtins", "set"),
    ("builtins", "object"),
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("pydantic_core._pydantic_core", "TzInfo"),  # the zone of a timestamp pydantic parsed
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, modules: tuple[str, ...]) -> None:
        super().__init__(io.BytesIO(data))
        self._modules = tuple(m + "." for m in modules)

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(self._modules) or (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        msg = f"state snapshot refers to {module}.{name}, which a snapshot may not contain"
        raise DecodeError(msg, context={"module": module, "name": name})


def dump(state: Any) -> bytes:
    """Serialise ``state`` (stage objects, schemas, numpy arrays, plain containers)."""
    return _MAGIC + bytes([_VERSION]) + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def load(data: bytes, modules: tuple[str, ...]) -> Any:
    """The state ``dump`` wrote, rebuilt only from classes of ``modules`` (and the safe few);
    a ``DecodeError`` for anything else.

    Examples
    --------
    >>> load(dump({"a": {1, 2}}), ("setpoint.schemas",))
    {'a': {1, 2}}
    >>> evil = b"SPDS" + bytes([1]) + pickle.dumps(print)
    >>> load(evil, ("setpoint.schemas",))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    setpoint.errors.DecodeError: state snapshot refers to builtins.print, ...
    """
    if data[:4] != _MAGIC or len(data) < 6:
        msg = "not a state snapshot (bad header)"
        raise DecodeError(msg, context={"head": data[:8].hex()})
    if data[4] != _VERSION:
        msg = f"state snapshot version {data[4]} is not supported (expected {_VERSION})"
        raise DecodeError(msg, context={"version": data[4]})
    try:
        return _Unpickler(data[5:], modules).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as exc:
        msg = f"state snapshot is corrupt: {exc}"
        raise DecodeError(msg) from exc
    except (IndexError, KeyError, MemoryError, RecursionError, OverflowError) as exc:
        msg = f"state snapshot is corrupt: {type(exc).__name__}"
        raise DecodeError(msg) from exc
