"""What the decide stage keeps per incident and what one step of it returns: the phase of each
incident's case, the outputs to publish, and a policy decision kept for the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from setpoint.schemas import (
    AnyCommand,
    ApprovalDecision,
    ApprovalRequest,
    Escalation,
    Incident,
    PolicyDecision,
    TrustRecord,
)

__all__ = ["Case", "Decided", "Outputs", "Phase"]


class Phase(StrEnum):
    IDLE = "idle"
    AWAITING_APPROVAL = "awaiting_approval"
    ACTING = "acting"
    VERIFYING = "verifying"
    UNDOING = "undoing"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


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


@dataclass
class Case:
    incident: Incident
    phase: Phase = Phase.IDLE
    tried: set[tuple[str, str]] = field(default_factory=set)
    history: list[str] = field(default_factory=list)
    attempts: int = 0
    current: AnyCommand | None = None
    approval: ApprovalRequest | None = None
