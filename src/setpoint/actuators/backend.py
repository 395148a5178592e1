"""The backend protocol of the intent layer, and the recorder every backend logs its calls with."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from setpoint.actuators.intent import capture
from setpoint.actuators.state import TargetState
from setpoint.clock import to_datetime
from setpoint.errors import BackendError, UnknownTargetError
from setpoint.schemas import AnyCommand, BackendCall


@dataclass
class Outcome:
    """What a backend call achieved, with every call it made to get there.

    ``code`` names why it failed (an error code of :mod:`setpoint.errors`), empty when ``ok``.
    For ``observe`` and ``capture``, ``captured`` holds the observed or captured state.
    """

    ok: bool
    detail: str
    calls: list[BackendCall] = field(default_factory=list)
    captured: dict[str, Any] = field(default_factory=dict)
    code: str = ""


class Backend(Protocol):
    """Runs verbs against one kind of infrastructure. One implementation per file.

    * ``observe(target)``: the target's state now, as a
      :class:`~setpoint.actuators.state.TargetState` dict in ``Outcome.captured``; an unknown
      target is ``ok=False`` with ``code="actuator.unknown_target"``.
    * ``capture(verb, target)``: what ``verb`` needs to be undone (or judged) later, taken
      before acting.
    * ``execute(cmd)``: apply the verb; ``undo(verb, target, captured, action_id)``: restore
      what ``capture`` took.

    Every call a backend makes is returned exactly (command line, HTTP request or API call,
    signal, and its answer) in ``Outcome.calls``, for the ledger.
    """

    name: str

    def observe(self, target: str) -> Outcome: ...

    def capture(self, verb: str, target: str) -> Outcome: ...

    def execute(self, cmd: AnyCommand) -> Outcome: ...

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome: ...


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


def observed_state(backend: Backend, target: str) -> tuple[TargetState, Outcome]:
    """Observe ``target`` and parse it; raise ``UnknownTargetError`` or ``BackendError``.

    The exception's ``context["calls"]`` holds the calls made, so a failure is recorded too.
    """
    out = backend.observe(target)
    if not out.ok:
        cls = UnknownTargetError if out.code == UnknownTargetError.code else BackendError
        raise cls(out.detail or f"cannot observe {target}", context={"calls": out.calls})
    try:
        return TargetState.model_validate(out.captured), out
    except ValidationError as exc:
        msg = f"{backend.name} reported a state of {target} that is not a TargetState: {exc}"
        raise BackendError(msg, context={"calls": out.calls}) from exc


def capture_by_observing(backend: Backend, verb: str, target: str) -> Outcome:
    """A ``capture`` built on ``observe``: the verb's catalog ``captures`` of the state now."""
    try:
        state, out = observed_state(backend, target)
    except (UnknownTargetError, BackendError) as exc:
        return Outcome(False, exc.message, list(exc.context.get("calls", [])), code=exc.code)
    return Outcome(True, f"captured {verb} state of {target}", out.calls, capture(verb, state))
