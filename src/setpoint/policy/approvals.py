"""The approval gate's rules, shared by ``setpoint approvals``, its HTTP endpoint and the decide
stage: one answer per request (the first counts), never from the agent that asked. A request
nobody answers in time is denied by the decide stage itself (event time), which publishes that
answer like any other, so every tool sees it closed."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from setpoint.clock import to_datetime
from setpoint.errors import ApprovalClosedError, SelfApprovalError
from setpoint.schemas import ApprovalDecision, ApprovalRequest

TIMEOUT_COMMENT = "no answer in time: denied by default"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    TIMED_OUT = "timed_out"


def status(answer: ApprovalDecision | None) -> ApprovalStatus:
    """Where a request stands, given its answer."""
    if answer is None:
        return ApprovalStatus.PENDING
    if answer.approved:
        return ApprovalStatus.APPROVED
    return ApprovalStatus.TIMED_OUT if answer.comment == TIMEOUT_COMMENT else ApprovalStatus.DENIED


def answers(decisions: Iterable[object]) -> dict[str, ApprovalDecision]:
    """The first answer to each request (a later one is ignored, as the decide stage does)."""
    out: dict[str, ApprovalDecision] = {}
    for d in decisions:
        if isinstance(d, ApprovalDecision):
            out.setdefault(d.approval_id, d)
    return out


def answer(
    req: ApprovalRequest,
    approved: bool,
    approver: str,
    previous: ApprovalDecision | None,
    now: float,
    comment: str = "",
) -> ApprovalDecision:
    """A human's answer to ``req``, or the reason it cannot be given.

    Examples
    --------
    >>> from setpoint.schemas import RestartCommand, PolicyDecision
    >>> t = to_datetime(0)
    >>> cmd = RestartCommand(command_id="c", incident_id="i", agent="bot", target="api",
    ...     idempotency_key="k", issued_at=t, expires_at=t,
    ...     decision=PolicyDecision(outcome="approval", policy_hash="p", ts=t))
    >>> req = ApprovalRequest(approval_id="a1", incident_id="i", command=cmd, requested_by="bot",
    ...                       ts=t, expires_at=to_datetime(900))
    >>> ok = answer(req, True, "alice", None, now=10)
    >>> ok.approver, ok.approved
    ('alice', True)
    >>> answer(req, True, "bot", None, now=10)
    Traceback (most recent call last):
    ...
    setpoint.errors.SelfApprovalError: bot requested a1 and cannot also answer it
    >>> answer(req, False, "carol", ok, now=11)
    Traceback (most recent call last):
    ...
    setpoint.errors.ApprovalClosedError: a1 was already approved by alice
    """
    ctx = {"approval_id": req.approval_id}
    if approver in (req.requested_by, req.command.agent):
        msg = f"{approver} requested {req.approval_id} and cannot also answer it"
        raise SelfApprovalError(msg, context=ctx)
    if previous is not None:
        msg = f"{req.approval_id} was already {status(previous)} by {previous.approver}"
        raise ApprovalClosedError(msg, context=ctx)
    return ApprovalDecision(
        approval_id=req.approval_id, incident_id=req.incident_id, approved=approved,
        approver=approver, ts=to_datetime(max(now, req.ts.timestamp())), comment=comment,
    )  # fmt: skip


def timed_out(req: ApprovalRequest, by: str) -> ApprovalDecision:
    """The decide stage's default denial of a request nobody answered before it expired."""
    return ApprovalDecision(
        approval_id=req.approval_id, incident_id=req.incident_id, approved=False, approver=by,
        ts=req.expires_at, comment=TIMEOUT_COMMENT,
    )  # fmt: skip
