"""Every operation the local fleet performs on a process, a file or its proxy, recorded exactly:
the command line it ran, the signal it sent and to which PID, the file it wrote or removed, the
route it set, and what came of it. The control API returns them with each answer, and the local
backend puts each one in the ledger as a ``BackendCall``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Op:
    """One operation: ``kind`` is ``spawn``, ``signal``, ``wait``, ``probe``, ``write``,
    ``unlink``, ``route`` or ``http``; ``request`` is exactly what was done."""

    kind: str
    request: str
    response: str
    ok: bool
    ts: float
    duration_ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OpLog:
    """The operations of one request to the fleet, in order.

    Examples
    --------
    >>> log = OpLog()
    >>> with log.op("signal", "kill -HUP 4242") as out:
    ...     out.append("delivered")
    >>> [(o.kind, o.request, o.response, o.ok) for o in log.ops]
    [('signal', 'kill -HUP 4242', 'delivered', True)]
    """

    ops: list[Op] = field(default_factory=list)

    @contextmanager
    def op(self, kind: str, request: str) -> Iterator[list[str]]:
        """Record ``kind``/``request``; the block appends its answer; an exception is recorded
        (as the answer, ``ok=False``) and raised again."""
        started = time.time()
        answer: list[str] = []
        try:
            yield answer
        except Exception as exc:
            self._add(kind, request, f"error: {type(exc).__name__}: {exc}", False, started)
            raise
        self._add(kind, request, "; ".join(answer), True, started)

    def add(self, kind: str, request: str, response: str, ok: bool) -> None:
        self._add(kind, request, response, ok, time.time())

    def _add(self, kind: str, request: str, response: str, ok: bool, started: float) -> None:
        ms = max(0.0, (time.time() - started) * 1000.0)
        self.ops.append(Op(kind, request, response, ok, started, round(ms, 3)))

    def to_json(self) -> list[dict[str, Any]]:
        return [o.to_json() for o in self.ops]
