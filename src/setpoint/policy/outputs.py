"""What one step of the decide stage emits: commands, approval requests, escalations, the policy
decisions behind them, trust updates and default answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from setpoint.clock import to_datetime
from setpoint.schemas import (
    AnyCommand,
    ApprovalDecision,
    ApprovalRequest,
    Escalation,
    Incident,
    PolicyDecision,
    TrustRecord,
    new_id,
)

__all__ = ["Decided", "Outputs", "escalation"]


@dataclass
class Decided:
    """A policy decision on one proposal, kept for the ledger whatever its outcome."""

    incident_id: str
    verb: str
    target: str
    decision: PolicyDecision


@dataclass
class Outputs:
    commands: list[AnyCommand] = field(default_factory=list)
    approvals: list[ApprovalRequest] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    decisions: list[Decided] = field(default_factory=list)
    trust: list[tuple[TrustRecord, bool]] = field(default_factory=list)
    """Updated trust records, each with whether its mode changed (to publish and record)."""
    answers: list[ApprovalDecision] = field(default_factory=list)
    """Default denials of approval requests nobody answered in time."""

    def extend(self, other: Outputs) -> None:
        self.commands += other.commands
        self.approvals += other.approvals
        self.escalations += other.escalations
        self.decisions += other.decisions
        self.trust += other.trust
        self.answers += other.answers


def escalation(
    inc: Incident, code: str, reason: str, tried: list[str], command_id: str | None, now: float
) -> Escalation:
    """The page for ``inc``: why, what was tried, and what a human needs to take over."""
    top = inc.hypotheses[0] if inc.hypotheses else None
    return Escalation(
        escalation_id=new_id("esc"),
        incident_id=inc.incident_id,
        domain=inc.domain,
        ts=to_datetime(now),
        reason_code=code,
        reason=reason[:1000],
        tried=tried[-20:],
        context={
            "summary": inc.summary,
            "services": inc.services,
            "top_hypothesis": top.model_dump(mode="json") if top else None,
            "confidence": inc.confidence,
            "rollback": f"setpoint rollback {command_id}" if command_id else None,
        },
    )
