"""The backend protocol of the intent layer, and the recorder every backend logs its calls with."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from setpoint.clock import to_datetime
from setpoint.schemas import AnyCommand, BackendCall


@dataclass
class Outcome:
    """What a backend call achieved, with every call it made to get there."""

    ok: bool
    detail: str
    calls: list[BackendCall] = field(default_factory=list)
    captured: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """Runs verbs against one kind of infrastructure. One implementation per file.

    ``execute`` captures what it needs to undo the action before acting and returns it in
    ``Outcome.captured``; ``undo`` takes that capture back. Every call a backend makes is returned
    exactly (command line, HTTP request or API call, and its answer) for the ledger.
    """

    name: str

    def execute(self, cmd: AnyCommand) -> Outcome: ...

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome: ...

    def observe(self, target: str) -> Outcome: ...


class CallRecorder:
    """Collects ``BackendCall`` records around real calls (wall time: when the call happened)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.calls: list[BackendCall] = []

    def record(self, operation: str, request: str, response: str, ok: bool, started: float) -> None:
        self.calls.append(
            BackendCall(
                backend=self.backend,
                operation=operation,
                request=request[:16000],
                response=response[:16000],
                ok=ok,
                ts=to_datetime(started),
                duration_ms=max(0.0, (time.time() - started) * 1000.0),
            )
        )
