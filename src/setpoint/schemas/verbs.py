"""The verb catalog: what each verb of the intent layer means, independent of any backend.

Static contract data shared by the policy (risk, reversibility), the actuators (inverse, what to
capture) and verification (the success signal and its window).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from setpoint.schemas.commands import (
    EscalateParams,
    FlushCacheParams,
    RenewCertificateParams,
    RestartParams,
    RollbackParams,
    RotateCredentialParams,
    ScaleParams,
    ShiftTrafficParams,
    UndoParams,
    Verb,
)


class Reversibility(StrEnum):
    INVERSE = "inverse"
    """Undone by an inverse action from state captured before acting."""
    STATELESS = "stateless"
    """Leaves no lasting state to undo (a restart of the same version; a cache that refills)."""
    IRREVERSIBLE = "irreversible"
    """Cannot be undone (a rotated secret is burned): never autonomous, whatever the policy."""


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class VerbSpec:
    verb: Verb
    params: type[BaseModel]
    risk: Risk
    reversibility: Reversibility
    inverse: str
    """How the verb is undone, in words (the backend implements it)."""
    captures: tuple[str, ...]
    """The state a backend captures before acting, to undo it."""
    preconditions: str
    success_slis: tuple[str, ...]
    """The signals that prove it worked: they return to baseline on the affected services."""
    settle_s: float
    """Event-time seconds to wait after acting before judging (the effect takes time to land)."""
    window_s: float
    """Event-time seconds after settling within which the signal must recover."""


_SLIS = ("error_rate", "latency_p99_ms", "health_failed", "log_errors")

CATALOG: dict[Verb, VerbSpec] = {
    s.verb: s
    for s in (
        VerbSpec(
            Verb.RESTART,
            RestartParams,
            Risk.LOW,
            Reversibility.STATELESS,
            "none needed: the same version comes back",
            (),
            "the service has replicas",
            (*_SLIS, "memory_mb"),
            60.0,
            240.0,
        ),
        VerbSpec(
            Verb.ROLLBACK_DEPLOY,
            RollbackParams,
            Risk.MEDIUM,
            Reversibility.INVERSE,
            "roll forward to the captured version",
            ("version",),
            "a previous version exists",
            _SLIS,
            90.0,
            300.0,
        ),
        VerbSpec(
            Verb.SCALE,
            ScaleParams,
            Risk.LOW,
            Reversibility.INVERSE,
            "scale back to the captured replica count",
            ("replicas",),
            "capacity to add replicas",
            (*_SLIS, "saturation", "cpu"),
            60.0,
            300.0,
        ),
        VerbSpec(
            Verb.FLUSH_CACHE,
            FlushCacheParams,
            Risk.LOW,
            Reversibility.STATELESS,
            "none needed: the cache refills from the source of truth",
            (),
            "the service has a cache",
            _SLIS,
            30.0,
            240.0,
        ),
        VerbSpec(
            Verb.ROTATE_CREDENTIAL,
            RotateCredentialParams,
            Risk.HIGH,
            Reversibility.IRREVERSIBLE,
            "none: the previous secret is burned",
            (),
            "a secret store is reachable",
            _SLIS,
            30.0,
            240.0,
        ),
        VerbSpec(
            Verb.RENEW_CERTIFICATE,
            RenewCertificateParams,
            Risk.MEDIUM,
            Reversibility.INVERSE,
            "reinstall the captured certificate",
            ("certificate",),
            "a CA is reachable",
            _SLIS,
            30.0,
            240.0,
        ),
        VerbSpec(
            Verb.SHIFT_TRAFFIC,
            ShiftTrafficParams,
            Risk.MEDIUM,
            Reversibility.INVERSE,
            "restore the captured traffic split",
            ("traffic",),
            "another healthy region or backend exists",
            _SLIS,
            30.0,
            240.0,
        ),
        VerbSpec(
            Verb.ESCALATE,
            EscalateParams,
            Risk.LOW,
            Reversibility.STATELESS,
            "none: a page",
            (),
            "none",
            (),
            0.0,
            0.0,
        ),
        VerbSpec(
            Verb.UNDO,
            UndoParams,
            Risk.LOW,
            Reversibility.STATELESS,
            "none: it is itself the undo",
            (),
            "the action was executed and is reversible",
            _SLIS,
            30.0,
            120.0,
        ),
    )
}


def spec(verb: Verb | str) -> VerbSpec:
    """The catalog entry of ``verb``."""
    return CATALOG[Verb(verb)]
