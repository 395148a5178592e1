"""Trust scores: the track record of one agent x verb x scope, and the autonomy it has earned.

Published by the decide stage on a compacted topic (one record per pair, the latest wins) and read
back at start, so trust survives restarts; ``setpoint trust show`` reads the same topic.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from setpoint.schemas.base import Event, FiniteFloat, ShortText, Timestamp

Count = Annotated[FiniteFloat, Field(ge=0)]
"""A count that decays while the pair is idle (so it is a float)."""


class TrustMode(StrEnum):
    SHADOW = "shadow"
    """Record what it would do; do not act, do not ask."""
    ADVISORY = "advisory"
    """Propose to a human, who approves each action."""
    AUTONOMOUS = "autonomous"
    """Act within the policy envelope."""


class TrustRecord(Event):
    kind: Literal["trust"] = "trust"
    agent: Annotated[str, Field(max_length=128)]
    verb: Annotated[str, Field(max_length=64)]
    scope: Annotated[str, Field(max_length=160)]
    """``service:NAME`` or ``tier:N``."""
    mode: TrustMode
    proposals: Count = 0.0
    agreed: Count = 0.0
    """Approval requests a human approved."""
    disagreed: Count = 0.0
    """Approval requests a human denied."""
    succeeded: Count = 0.0
    """Actions verified as recovered."""
    failed: Count = 0.0
    """Actions verified as not recovered."""
    rolled_back: Count = 0.0
    score: Annotated[FiniteFloat, Field(ge=0, le=1)] = 0.0
    """Wilson lower bound of (agreed + succeeded) / (every judged outcome)."""
    good_since_change: Annotated[int, Field(ge=0)] = 0
    changed_at: Timestamp | None = None
    """When the mode last changed (a promotion waits ``min_dwell_s`` after it)."""
    updated_at: Timestamp
    version: Annotated[int, Field(ge=0)] = 0
    """Incremented on every update: a reader keeps the highest."""
    reason: ShortText = ""
    """Why the mode is what it is."""

    @property
    def key(self) -> str:
        return f"{self.agent}|{self.verb}|{self.scope}"
