"""The verb catalog: what each verb of the intent layer means, independent of any backend.

Static contract data shared by the policy (risk, reversibility), the actuators (preconditions,
inverse, what to capture) and verification (the success signal and its window). The names in
``captures`` are fields of the one observed-state vocabulary every backend reports
(``setpoint.actuators.state.TargetState``); the checks behind ``preconditions`` live in
``setpoint.actuators.intent``.

=====================  ======  ============  ===============================================
verb                   risk    reversal      captured before acting
=====================  ======  ============  ===============================================
``restart``            low     stateless     the instances (to tell that every one restarted)
``rollback_deploy``    medium  inverse       version, previous version, replica count
``scale``              low     inverse       replica count
``flush_cache``        low     stateless     cache state and generation
``rotate_credential``  high    irreversible  credential id and expiry (the old one is burned)
``renew_certificate``  medium  inverse       certificate serial and expiry
``shift_traffic``      medium  inverse       the traffic split between regions
``escalate``           low     stateless     nothing
``undo``               low     stateless     nothing (it is itself an inverse)
=====================  ======  ============  ===============================================
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
    """The observed state captured before acting: what undoing it restores, and what tells
    whether the action landed (an actuator restarted mid-action needs to know)."""
    preconditions: str
    """What must hold before acting, in words (``setpoint.actuators.intent`` checks it)."""
    success_slis: tuple[str, ...]
    """The signals that prove it worked: they return to baseline on the affected services."""
    settle_s: float
    """Event-time seconds to wait after acting before judging (the effect takes time to land)."""
    window_s: float
    """Event-time seconds after settling within which the signal must recover."""

    @property
    def reversible(self) -> bool:
        """Whether an ``undo`` can restore what it changed.

        Examples
        --------
        >>> spec("scale").reversible, spec("restart").reversible
        (True, False)
        """
        return self.reversibility == Reversibility.INVERSE

    @property
    def recovery(self) -> str:
        """What "it worked" means for this verb, in words (the verify stage's contract)."""
        if not self.success_slis:
            return "nothing to verify: a human takes over"
        slis = ", ".join(self.success_slis)
        return (
            f"after {self.settle_s:g}s to settle, within {self.window_s:g}s: {slis} back within "
            "tolerance of the pre-incident baseline on the target and the incident's services "
            "(not claimed by a newer incident), with measurements present and the target's "
            "request rate back above half its baseline, for consecutive health summaries"
        )


_SLIS = ("error_rate", "latency_p99_ms", "health_failed", "log_errors")
_AVAILABILITY = ("error_rate", "health_failed", "log_errors")
"""What a traffic shift off a region that is down restores: answers. The region left serving
more is slower; past its capacity that is a saturation (``scale``), not a shift that failed."""

CATALOG: dict[Verb, VerbSpec] = {
    s.verb: s
    for s in (
        VerbSpec(
            Verb.RESTART,
            RestartParams,
            Risk.LOW,
            Reversibility.STATELESS,
            "none needed: the same version comes back",
            ("instances",),
            "the service runs at least one instance; named instances exist",
            (*_SLIS, "memory_mb"),
            60.0,
            240.0,
        ),
        VerbSpec(
            Verb.ROLLBACK_DEPLOY,
            RollbackParams,
            Risk.MEDIUM,
            Reversibility.INVERSE,
            "roll forward to the captured version (and replica count)",
            ("version", "previous_version", "replicas"),
            "a previous version exists (and is the one asked for, if one is named)",
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
            "the new count is at least 1 and within the service's replica cap",
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
            ("cache", "cache_generation"),
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
            ("credential_id", "credential_expires_at", "credential_revoked"),
            "the service has a credential in a reachable secret store",
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
            ("cert_serial", "cert_expires_at"),
            "the service has a certificate and a CA is reachable",
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
            "the service runs in two regions or more; the destination is one with an instance up",
            _AVAILABILITY,
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
    """The catalog entry of ``verb``.

    Examples
    --------
    >>> s = spec("rollback_deploy")
    >>> s.risk, s.reversibility
    (<Risk.MEDIUM: 'medium'>, <Reversibility.INVERSE: 'inverse'>)
    >>> s.captures
    ('version', 'previous_version', 'replicas')
    >>> spec("reboot")
    Traceback (most recent call last):
    ...
    ValueError: 'reboot' is not a valid Verb
    """
    return CATALOG[Verb(verb)]
