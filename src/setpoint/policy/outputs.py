"""What one step of the decide stage emits: commands, approval requests, escalations, the policy
decisions behind them, trust updates and default answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from setpoint.schemas import (
    AnyCommand,
    ApprovalDecision,
    ApprovalRequest,
    Escalation,
    PolicyDecision,
    TrustRecord,
)

__all__ = ["Decided", "Outputs"]


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
