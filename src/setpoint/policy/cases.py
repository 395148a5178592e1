"""What the decide stage keeps per incident: the phase of each incident's case and what it has
tried (what one step returns is in ``outputs``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from setpoint.policy.relapse import Settled
from setpoint.schemas import AnyCommand, ApprovalRequest, Incident

__all__ = ["Case", "Phase"]


class Phase(StrEnum):
    IDLE = "idle"
    AWAITING_APPROVAL = "awaiting_approval"
    ACTING = "acting"
    VERIFYING = "verifying"
    UNDOING = "undoing"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


@dataclass
class Case:
    incident: Incident
    phase: Phase = Phase.IDLE
    tried: set[tuple[str, str]] = field(default_factory=set)
    history: list[str] = field(default_factory=list)
    attempts: int = 0
    current: AnyCommand | None = None
    approval: ApprovalRequest | None = None
    tops: set[tuple[str, str]] = field(default_factory=set)
    """The leading (service, fault class) pairs it acted or escalated on."""
    last_action: float = -math.inf
    settled: Settled | None = None
    """What it knew when it last resolved or escalated (see ``relapse``)."""
    only_top: bool = False
    """Reopened: only the leading hypothesis is a candidate."""

    def settle(self, phase: Phase) -> None:
        self.phase = phase
        seen = frozenset(self.incident.anomaly_ids)
        self.settled = Settled(
            phase == Phase.RESOLVED, seen, frozenset(self.tops), self.last_action
        )
