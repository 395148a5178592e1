"""What execution and verification emit: action results with their exact calls, verifications,
escalations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from setpoint.schemas.base import (
    Event,
    FiniteFloat,
    Id,
    LongText,
    ServiceName,
    ShortText,
    Timestamp,
)


class BackendCall(Event):
    """One call a backend made, exactly: the command line, HTTP request or API call, its answer."""

    backend: Annotated[str, Field(max_length=64)]
    operation: Annotated[str, Field(max_length=128)]
    request: LongText
    response: LongText = ""
    ok: bool
    ts: Timestamp
    duration_ms: Annotated[FiniteFloat, Field(ge=0)] = 0.0


class ActionStatus(StrEnum):
    EXECUTED = "executed"
    """The backend applied the action; verification follows."""
    REJECTED = "rejected"
    """The actuator refused it (signature, expiry, replay, revocation, policy now denies)."""
    FAILED = "failed"
    """The backend could not apply it."""
    DUPLICATE = "duplicate"
    """Its idempotency key was already executed: nothing was done again."""
    UNDONE = "undone"
    """A previous action was reversed through its inverse."""
    ESCALATED = "escalated"
    """Handed to a human."""


class ActionResult(Event):
    kind: Literal["action_result"] = "action_result"
    action_id: Id
    command_id: Id
    incident_id: Id
    verb: Annotated[str, Field(max_length=64)]
    target: ServiceName
    domain: ServiceName = "default"
    status: ActionStatus
    reason_code: Annotated[str, Field(max_length=64)] = ""
    reason: ShortText = ""
    calls: Annotated[list[BackendCall], Field(max_length=256)] = Field(default_factory=list)
    captured: dict[str, Any] = Field(default_factory=dict)
    backend: Annotated[str, Field(max_length=64)] = ""
    started_at: Timestamp
    finished_at: Timestamp
    undoes: Id | None = None


class VerificationOutcome(StrEnum):
    RECOVERED = "recovered"
    NOT_RECOVERED = "not_recovered"
    INCONCLUSIVE = "inconclusive"


class Verification(Event):
    kind: Literal["verification"] = "verification"
    verification_id: Id
    action_id: Id
    incident_id: Id
    target: ServiceName
    domain: ServiceName = "default"
    verb: Annotated[str, Field(max_length=64)]
    outcome: VerificationOutcome
    started_at: Timestamp
    ts: Timestamp
    window_s: Annotated[FiniteFloat, Field(ge=0)]
    observed: dict[str, FiniteFloat] = Field(default_factory=dict)
    baseline: dict[str, FiniteFloat] = Field(default_factory=dict)
    detail: ShortText = ""


class Escalation(Event):
    kind: Literal["escalation"] = "escalation"
    escalation_id: Id
    incident_id: Id
    domain: ServiceName = "default"
    ts: Timestamp
    reason_code: Annotated[str, Field(max_length=64)]
    reason: ShortText
    tried: Annotated[list[ShortText], Field(max_length=64)] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)


class ExecutionEntry(Event):
    """One write of an actuator's durable execution record, as journalled on a compacted topic
    (keyed by idempotency key): whichever actuator a command's partition moves to knows whether
    it already ran, and what was captured before it did."""

    kind: Literal["execution"] = "execution"
    idempotency_key: Id
    action_id: Id
    incident_id: Id
    verb: Annotated[str, Field(max_length=64)]
    target: ServiceName
    status: Annotated[str, Field(max_length=32)]
    captured: dict[str, Any] = Field(default_factory=dict)
    expected: dict[str, Any] = Field(default_factory=dict)
    command_json: Annotated[str, Field(max_length=65536)] = ""
    owner: Annotated[str, Field(max_length=128)] = ""
    started_at: FiniteFloat = 0.0
    finished_at: FiniteFloat = 0.0
    rev: Annotated[int, Field(ge=0)] = 0
