"""What the actuator does once a command is allowed: the intent layer around the backend.

``apply_command``: the loop bound, then observe → preconditions → capture (nothing has changed
yet), then the durable record *with the capture* is written, and only then does the backend act.
``undo_command``: restore what an executed reversible action captured. ``recover_unfinished``:
after a restart, settle each record left ``started`` - if the effect landed, report it executed
(verification resumes); if not, roll it back through its capture (or say it cannot).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from setpoint.actuators import intent
from setpoint.actuators.backend import Outcome, observed_state
from setpoint.actuators.records import ExecutionRecord
from setpoint.actuators.results import action_result
from setpoint.actuators.state import TargetState
from setpoint.clock import to_datetime
from setpoint.errors import ActuatorError, RepeatLimitError
from setpoint.policy import Proposal
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    AnyCommand,
    BackendCall,
    Command,
    UndoCommand,
    Verb,
)
from setpoint.schemas.verbs import spec

if TYPE_CHECKING:
    from setpoint.actuators.executor import Actuator

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(Command)
INTERRUPTED = "interrupted"
"""``reason_code`` of an action its actuator stopped in the middle of (found on restart)."""


def _begin(
    act: Actuator,
    cmd: AnyCommand,
    now: float,
    captured: dict[str, object],
    expected: dict[str, object],
) -> ExecutionRecord:
    return act.records.begin(
        ExecutionRecord(
            idempotency_key=cmd.idempotency_key,
            action_id=cmd.command_id,
            incident_id=cmd.incident_id,
            verb=str(cmd.verb),
            target=cmd.target,
            status="started",
            captured=dict(captured),
            expected=dict(expected),
            command_json=cmd.model_dump_json(),
            started_at=now,
        )
    )


def _guard_repeats(act: Actuator, cmd: AnyCommand, now: float) -> None:
    if cmd.verb == Verb.ESCALATE:
        return  # telling a human again is never a loop to stop
    since = now - act.repeat_window_s
    n = act.records.recent(str(cmd.verb), cmd.target, since)
    if n >= act.max_repeats:
        msg = (
            f"{cmd.verb} already ran {n} times on {cmd.target} in the last "
            f"{act.repeat_window_s:g}s (bound {act.max_repeats}): a human should look"
        )
        raise RepeatLimitError(msg, context={"count": n})


def _prepare(act: Actuator, cmd: AnyCommand, now: float) -> tuple[TargetState, Outcome]:
    _guard_repeats(act, cmd, now)
    state, seen = observed_state(act.backend, cmd.target)
    calls = list(seen.calls)
    try:
        intent.check(str(cmd.verb), cmd.params, state)
    except ActuatorError as exc:
        exc.context["calls"] = calls
        raise
    cap = act.backend.capture(str(cmd.verb), cmd.target)
    calls += cap.calls
    if not cap.ok:
        raise ActuatorError(cap.detail, context={"calls": calls})
    return state, Outcome(True, cap.detail, calls, cap.captured)


def apply_command(
    act: Actuator, cmd: AnyCommand, p: Proposal, now: float, started: datetime
) -> ActionResult:
    """Run an allowed command through the intent layer and the backend (exactly once).

    A freeze or revocation that lands while the backend acts rolls the action back (a
    half-applied action does not stay).
    """
    name = act.backend.name
    try:
        state, prep = _prepare(act, cmd, now)
    except ActuatorError as exc:
        out = Outcome(False, exc.message, list(exc.context.get("calls", [])))
        res = action_result(cmd, ActionStatus.FAILED, exc.code, exc.message, started, name, out)
        _begin(act, cmd, now, {}, {})
        act.records.finish(cmd.idempotency_key, str(res.status), res.model_dump_json(), now)
        return res
    expected = intent.expect(str(cmd.verb), cmd.params, state)
    _begin(act, cmd, now, prep.captured, expected)
    act.mark_started(cmd, p, now)
    out = act.backend.execute(cmd)
    both = Outcome(out.ok, out.detail, prep.calls + out.calls, prep.captured)
    late = act.landed_meanwhile(cmd) if out.ok else None
    if late is not None:
        res, status_text = act.roll_back_half_applied(cmd, both, late, started)
        act.records.finish(cmd.idempotency_key, status_text, res.model_dump_json(), now)
        return res
    status = ActionStatus.EXECUTED if out.ok else ActionStatus.FAILED
    if not out.ok:
        act.finished(cmd.command_id)
    code = "" if out.ok else (out.code or "actuator.backend")
    res = action_result(cmd, status, code, out.detail, started, name, both)
    act.records.finish(cmd.idempotency_key, str(status), res.model_dump_json(), now)
    return res


def undo_command(act: Actuator, cmd: UndoCommand, now: float, started: datetime) -> ActionResult:
    """Restore what the action named by ``cmd`` captured, if it was executed and reversible."""
    name = act.backend.name
    target = act.records.by_action(cmd.params.action_id)
    problem = _undo_problem(target)
    if problem or target is None:
        return action_result(cmd, ActionStatus.FAILED, "undo", problem, started, name)
    _begin(act, cmd, now, {}, {"restores": target.action_id})
    return _finish_undo(act, cmd, target, now, started)


def _undo_problem(target: ExecutionRecord | None) -> str:
    if target is None:
        return "unknown action"
    if target.status != ActionStatus.EXECUTED:
        return f"action is {target.status}"
    if not spec(target.verb).reversible:
        return f"{target.verb} has no inverse ({spec(target.verb).inverse})"
    return ""


def _finish_undo(
    act: Actuator, cmd: UndoCommand, target: ExecutionRecord, now: float, started: datetime
) -> ActionResult:
    out = act.backend.undo(target.verb, target.target, target.captured, target.action_id)
    act.finished(target.action_id)
    status = ActionStatus.UNDONE if out.ok else ActionStatus.FAILED
    code = "" if out.ok else (out.code or "actuator.backend")
    res = action_result(
        cmd, status, code, out.detail, started, act.backend.name, out, undoes=target.action_id
    )
    act.records.finish(cmd.idempotency_key, str(status), res.model_dump_json(), now)
    if out.ok:
        act.records.finish(
            target.idempotency_key, str(ActionStatus.UNDONE), target.result_json, now
        )
    return res


# -- recovery ----------------------------------------------------------------------------------
def recover_unfinished(act: Actuator) -> list[ActionResult]:
    """One result per command of this actuator left ``started`` by a previous run (an
    interrupted escalation is posted again when its message is redelivered, not here)."""
    left = act.records.unfinished(act.records.owner)
    return [_recover(act, rec) for rec in left if rec.command_json]


def _settled(act: Actuator, target: str) -> tuple[TargetState | None, list[BackendCall], str]:
    """The target's state once no earlier action is still landing (bounded wait)."""
    deadline = time.monotonic() + act.settle_wait_s
    calls: list[BackendCall] = []
    while True:
        try:
            state, seen = observed_state(act.backend, target)
        except ActuatorError as exc:
            return None, calls + list(exc.context.get("calls", [])), exc.message
        calls += seen.calls
        if not state.busy or time.monotonic() >= deadline:
            return state, calls, ""
        time.sleep(0.5)


def _recover(act: Actuator, rec: ExecutionRecord) -> ActionResult:
    cmd = _COMMAND.validate_json(rec.command_json)
    started = to_datetime(rec.started_at)
    now = max(act.clock.now(), rec.started_at)
    if isinstance(cmd, UndoCommand):
        target = act.records.by_action(cmd.params.action_id)
        if target is None or _undo_problem(target):
            why = f"{INTERRUPTED}: {_undo_problem(target)}"
            return _close(act, rec, cmd, ActionStatus.FAILED, INTERRUPTED, why, started, None)
        return _finish_undo(act, cmd, target, now, started)
    state, calls, problem = _settled(act, cmd.target)
    if state is not None and intent.landed(rec.verb, rec.captured, rec.expected, state):
        act.mark_started(cmd, Proposal.of(cmd), now)
        why = "the actuator restarted mid-action; the effect had landed, verification follows"
        out = Outcome(True, why, calls, rec.captured)
        return _close(act, rec, cmd, ActionStatus.EXECUTED, "", why, started, out)
    return _roll_back(act, rec, cmd, calls, problem, started)


def _roll_back(
    act: Actuator,
    rec: ExecutionRecord,
    cmd: AnyCommand,
    calls: list[BackendCall],
    problem: str,
    started: datetime,
) -> ActionResult:
    head = "the actuator stopped mid-action and the effect did not land"
    if problem:
        head = f"the actuator stopped mid-action and the target cannot be observed ({problem})"
    if not (spec(rec.verb).reversible and rec.captured):
        why = f"{head}; {rec.verb} has no inverse, nothing to roll back"
        return _close(
            act,
            rec,
            cmd,
            ActionStatus.FAILED,
            INTERRUPTED,
            why,
            started,
            Outcome(False, why, calls, rec.captured),
        )
    back = act.backend.undo(rec.verb, rec.target, rec.captured, rec.action_id)
    done = "rolled back to the captured state" if back.ok else f"the rollback failed: {back.detail}"
    why = f"{head}; {done}"
    out = Outcome(False, why, calls + back.calls, rec.captured)
    return _close(act, rec, cmd, ActionStatus.FAILED, INTERRUPTED, why, started, out)


def _close(
    act: Actuator,
    rec: ExecutionRecord,
    cmd: AnyCommand,
    status: ActionStatus,
    code: str,
    why: str,
    started: datetime,
    out: Outcome | None,
) -> ActionResult:
    undoes = cmd.params.action_id if isinstance(cmd, UndoCommand) else None
    res = action_result(cmd, status, code, why, started, act.backend.name, out, undoes)
    act.records.finish(
        rec.idempotency_key,
        str(status),
        res.model_dump_json(),
        max(act.clock.now(), rec.started_at),
    )
    return res
