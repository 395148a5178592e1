"""Building the ``ActionResult`` of a command, whatever became of it (one shape for every path:
executed, refused, failed, undone, recovered after a restart)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from setpoint.actuators.backend import Outcome
from setpoint.schemas import ActionResult, ActionStatus, AnyCommand


def action_result(
    cmd: AnyCommand,
    status: ActionStatus,
    code: str,
    reason: str,
    started: datetime,
    backend: str,
    out: Outcome | None = None,
    undoes: str | None = None,
    finished: datetime | None = None,
) -> ActionResult:
    """The result of ``cmd``, with the calls and capture of ``out`` (if any).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from setpoint.schemas import PolicyDecision, RestartCommand
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> d = PolicyDecision(outcome="allow", policy_hash="p", ts=t)
    >>> c = RestartCommand(command_id="c", incident_id="i", agent="a", target="api",
    ...                    idempotency_key="k", decision=d, issued_at=t, expires_at=t)
    >>> r = action_result(c, ActionStatus.FAILED, "actuator.precondition", "no", t, "sim")
    >>> r.status, r.reason_code, r.action_id
    (<ActionStatus.FAILED: 'failed'>, 'actuator.precondition', 'c')
    """
    extra: dict[str, Any] = {}
    if out is not None:
        extra = {"calls": out.calls[-256:], "captured": out.captured}
    return ActionResult(
        action_id=cmd.command_id,
        command_id=cmd.command_id,
        incident_id=cmd.incident_id,
        verb=str(cmd.verb),
        target=cmd.target,
        domain=cmd.domain,
        status=status,
        reason_code=code,
        reason=reason[:1000],
        backend=backend,
        started_at=started,
        finished_at=finished or started,
        undoes=undoes,
        **extra,
    )
