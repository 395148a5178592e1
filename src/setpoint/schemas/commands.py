"""What the decide stage emits: remediation commands (a closed set of verbs) and approvals.

A command kind is a discriminated union on ``verb``; each verb has its own parameter model, so an
unknown verb or a parameter of the wrong shape is a schema error, not a runtime surprise.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from setpoint.schemas.base import Event, Id, ServiceName, ShortText, Timestamp


class Verb(StrEnum):
    RESTART = "restart"
    ROLLBACK_DEPLOY = "rollback_deploy"
    SCALE = "scale"
    FLUSH_CACHE = "flush_cache"
    ROTATE_CREDENTIAL = "rotate_credential"
    RENEW_CERTIFICATE = "renew_certificate"
    SHIFT_TRAFFIC = "shift_traffic"
    ESCALATE = "escalate"
    UNDO = "undo"
    """Reverse a previous action through its inverse (automatic rollback, or a human's brake)."""


class DecisionOutcome(StrEnum):
    ALLOW = "allow"
    """Run autonomously."""
    APPROVAL = "approval"
    """Run only once a human approves."""
    ADVISORY = "advisory"
    """Propose to a human; do not run."""
    SHADOW = "shadow"
    """Record what would have been done; do not run, do not page."""
    DENY = "deny"
    """Never run."""


class PolicyDecision(Event):
    """The envelope's verdict on a proposed command, with the version and the rules that decided."""

    outcome: DecisionOutcome
    policy_hash: Annotated[str, Field(max_length=128)]
    rule_ids: Annotated[list[str], Field(max_length=64)] = Field(default_factory=list)
    reasons: Annotated[list[ShortText], Field(max_length=64)] = Field(default_factory=list)
    trust_mode: Annotated[str, Field(max_length=32)] = ""
    footprint: Annotated[dict[str, int], Field(max_length=1024)] = Field(default_factory=dict)
    """The action's blast radius: instances touched per service (the target and dependents)."""
    ts: Timestamp


class RestartParams(Event):
    instances: Annotated[list[str], Field(max_length=1024)] | None = None
    """Instances to restart; ``None`` restarts every instance, one at a time."""


class RollbackParams(Event):
    to_version: Annotated[str, Field(max_length=128)] | None = None
    change_id: Id | None = None


class ScaleParams(Event):
    """Either a target replica count or a change relative to the current count."""

    replicas: Annotated[int, Field(ge=0, le=10000)] | None = None
    delta: Annotated[int, Field(ge=-1000, le=1000)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ScaleParams:
        if (self.replicas is None) == (self.delta is None):
            msg = "give exactly one of 'replicas' and 'delta'"
            raise ValueError(msg)
        return self


class FlushCacheParams(Event):
    cache: Annotated[str, Field(max_length=128)] = "default"


class RotateCredentialParams(Event):
    credential: Annotated[str, Field(max_length=128)] = "default"


class RenewCertificateParams(Event):
    certificate: Annotated[str, Field(max_length=128)] = "default"
    valid_days: Annotated[int, Field(ge=1, le=825)] = 90


class ShiftTrafficParams(Event):
    to: Annotated[str, Field(max_length=128)] | None = None
    """Where traffic goes (a region, a replica set); ``None``: the healthiest alternative."""
    weight_pct: Annotated[int, Field(ge=0, le=100)] = 100


class EscalateParams(Event):
    reason: ShortText
    severity: Literal["page", "ticket"] = "page"


class UndoParams(Event):
    action_id: Id
    """The action to reverse."""
    reason: ShortText = ""


class _CommandBase(Event):
    kind: Literal["command"] = "command"
    command_id: Id
    incident_id: Id
    agent: Annotated[str, Field(max_length=128)]
    target: ServiceName
    domain: ServiceName = "default"
    idempotency_key: Id
    attempt: Annotated[int, Field(ge=1, le=100)] = 1
    hypothesis_rank: Annotated[int, Field(ge=0)] = 1
    decision: PolicyDecision
    issued_at: Timestamp
    expires_at: Timestamp
    epoch: Annotated[int, Field(ge=0)] = 0
    approved_by: Annotated[str, Field(max_length=128)] | None = None
    instances: Annotated[int, Field(ge=0, le=100000)] | None = None
    """Instances of the target the action touches, as the issuer counted them (the actuator
    re-counts and takes the larger)."""
    signature: Annotated[str, Field(max_length=512)] = ""


class RestartCommand(_CommandBase):
    verb: Literal[Verb.RESTART] = Verb.RESTART
    params: RestartParams = RestartParams()


class RollbackCommand(_CommandBase):
    verb: Literal[Verb.ROLLBACK_DEPLOY] = Verb.ROLLBACK_DEPLOY
    params: RollbackParams = RollbackParams()


class ScaleCommand(_CommandBase):
    verb: Literal[Verb.SCALE] = Verb.SCALE
    params: ScaleParams


class FlushCacheCommand(_CommandBase):
    verb: Literal[Verb.FLUSH_CACHE] = Verb.FLUSH_CACHE
    params: FlushCacheParams = FlushCacheParams()


class RotateCredentialCommand(_CommandBase):
    verb: Literal[Verb.ROTATE_CREDENTIAL] = Verb.ROTATE_CREDENTIAL
    params: RotateCredentialParams = RotateCredentialParams()


class RenewCertificateCommand(_CommandBase):
    verb: Literal[Verb.RENEW_CERTIFICATE] = Verb.RENEW_CERTIFICATE
    params: RenewCertificateParams = RenewCertificateParams()


class ShiftTrafficCommand(_CommandBase):
    verb: Literal[Verb.SHIFT_TRAFFIC] = Verb.SHIFT_TRAFFIC
    params: ShiftTrafficParams


class EscalateCommand(_CommandBase):
    verb: Literal[Verb.ESCALATE] = Verb.ESCALATE
    params: EscalateParams


class UndoCommand(_CommandBase):
    verb: Literal[Verb.UNDO] = Verb.UNDO
    params: UndoParams


Command = Annotated[
    RestartCommand
    | RollbackCommand
    | ScaleCommand
    | FlushCacheCommand
    | RotateCredentialCommand
    | RenewCertificateCommand
    | ShiftTrafficCommand
    | EscalateCommand
    | UndoCommand,
    Field(discriminator="verb"),
]
AnyCommand = (
    RestartCommand
    | RollbackCommand
    | ScaleCommand
    | FlushCacheCommand
    | RotateCredentialCommand
    | RenewCertificateCommand
    | ShiftTrafficCommand
    | EscalateCommand
    | UndoCommand
)


class ApprovalRequest(Event):
    """A command waiting for a human, with the diagnosis that motivated it."""

    kind: Literal["approval_request"] = "approval_request"
    approval_id: Id
    incident_id: Id
    command: Command
    requested_by: Annotated[str, Field(max_length=128)]
    ts: Timestamp
    expires_at: Timestamp
    summary: ShortText = ""


class ApprovalDecision(Event):
    """A human's answer to an :class:`ApprovalRequest` (or the default denial on timeout)."""

    kind: Literal["approval_decision"] = "approval_decision"
    approval_id: Id
    incident_id: Id
    approved: bool
    approver: Annotated[str, Field(min_length=1, max_length=128)]
    ts: Timestamp
    comment: ShortText = ""
