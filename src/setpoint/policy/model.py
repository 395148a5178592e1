"""The policy file: its schema, its loader and its content hash (the version that decides).

A policy file has global ``limits`` (caps that hold whatever a rule says), ``trust`` (how agents
earn autonomy), an ``inventory`` of service facts rules can match on (regions, labels),
``freezes`` (change freezes with a start and an end) and ``rules`` (first match decides the
effect; every match's caps hold). Errors name the file, the line and the field.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from setpoint.errors import PolicyFileError
from setpoint.policy.rules import Caps, ChangeFreeze, Effect, Rule
from setpoint.schemas import TrustMode
from setpoint.yamlfile import load_model


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Frozen):
    """Caps that hold whatever a rule says (event time throughout)."""

    max_actions_per_minute: Annotated[int, Field(ge=0)] = 6
    max_concurrent: Annotated[int, Field(ge=0)] = 10
    """Actions in flight at once, across every incident, domain and agent."""
    max_concurrent_per_domain: Annotated[int, Field(ge=0)] = 3
    blast_window_s: Annotated[float, Field(gt=0)] = 300.0
    """The time window of ``max_fleet_share`` and ``max_instances``."""
    max_fleet_share: Annotated[float, Field(ge=0, le=1)] = 0.5
    """Share of the fleet's instances touched (targets and dependents) per blast window."""
    max_service_share: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Share of any one service's instances being acted on at once."""
    max_instances: Annotated[int, Field(ge=0)] | None = None
    """Instances touched per blast window, as an absolute count."""
    dependents_depth: Annotated[int, Field(ge=0, le=10)] = 1
    """How many levels of callers count in an action's blast radius (0: the target only)."""
    cooldown_s: Annotated[float, Field(ge=0)] = 300.0
    """After an action on a target, no other action on it for this long."""
    max_attempts_per_incident: Annotated[int, Field(ge=1)] = 3
    approval_timeout_s: Annotated[float, Field(gt=0)] = 900.0
    command_ttl_s: Annotated[float, Field(gt=0)] = 300.0
    in_flight_expiry_s: Annotated[float, Field(gt=0)] = 3600.0
    """An action never verified stops counting as in flight after this long."""

    def caps(self) -> list[tuple[Caps, dict[str, str]]]:
        """The global limits as caps over every action, each with the ids its checks report
        (the field of this file that set it). The per-domain cap is checked on its own."""
        blast = Caps(
            window_s=self.blast_window_s,
            max_fleet_share=self.max_fleet_share,
            max_service_share=self.max_service_share,
            max_instances=self.max_instances,
        )
        return [
            (Caps(max_attempts=self.max_attempts_per_incident),
             {"max_attempts": "limits.max_attempts_per_incident"}),
            (Caps(max_per_window=self.max_actions_per_minute, window_s=60.0),
             {"max_per_window": "limits.max_actions_per_minute"}),
            (Caps(max_concurrent=self.max_concurrent), {"max_concurrent": "limits.max_concurrent"}),
            (blast, {k: f"limits.{k}" for k in
                     ("max_fleet_share", "max_service_share", "max_instances")}),
            (Caps(cooldown_s=self.cooldown_s), {"cooldown_s": "limits.cooldown_s"}),
        ]  # fmt: skip


class TrustStep(_Frozen):
    min_samples: Annotated[int, Field(ge=0)]
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    hold_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Below this (after decay) the pair is demoted from the mode."""


class TrustConfig(_Frozen):
    """How an agent x verb x scope pair earns autonomy (shadow -> advisory -> autonomous)."""

    enabled: bool = True
    scope: str = "service"
    """``service`` or ``tier``: what a trust score is kept per, with the agent and the verb."""
    initial_mode: TrustMode = TrustMode.SHADOW
    advisory: TrustStep = TrustStep(min_samples=5)
    """Shadow -> advisory after this many proposals (and a score, once humans have judged)."""
    autonomous: TrustStep = TrustStep(min_samples=20, min_score=0.9, hold_score=0.8)
    """Advisory -> autonomous: judged outcomes and the lower confidence bound of their success."""
    z: Annotated[float, Field(gt=0)] = 1.96
    """Normal quantile of the Wilson lower bound (1.96: 95 % two-sided)."""
    min_dwell_s: Annotated[float, Field(ge=0)] = 86400.0
    """At most one promotion per pair per this long; a demotion restarts the wait."""
    min_good_since_change: Annotated[int, Field(ge=0)] = 5
    """Good outcomes needed since the last change of mode before a promotion to autonomous."""
    idle_after_s: Annotated[float, Field(ge=0)] = 86400.0
    """A pair with no update for this long is idle: its counts start to decay."""
    half_life_s: Annotated[float, Field(gt=0)] = 30 * 86400.0
    """Idle counts halve every this long."""

    @model_validator(mode="after")
    def _modes(self) -> TrustConfig:
        if self.scope not in ("service", "tier"):
            msg = f"scope must be 'service' or 'tier', not {self.scope!r}"
            raise ValueError(msg)
        return self


class ServiceFacts(_Frozen):
    """Facts about a service that rules match on and the topology does not carry."""

    regions: list[str] = []
    labels: dict[str, str] = {}


class PolicyFile(_Frozen):
    version: int = 1
    default_effect: Effect = Effect.ADVISORY
    """What happens when no rule matches: propose to a human, never act. Irreversible verbs
    with no matching rule are denied."""
    limits: Limits = Limits()
    trust: TrustConfig = TrustConfig()
    inventory: dict[str, ServiceFacts] = {}
    freezes: list[ChangeFreeze] = []
    rules: list[Rule] = []

    @field_validator("rules", "freezes")
    @classmethod
    def _unique_ids(cls, v: list[Rule] | list[ChangeFreeze]) -> list[Rule] | list[ChangeFreeze]:
        ids = [r.id for r in v]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup is not None:
            msg = f"rule id {dup!r} is used twice"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _freeze_ids_differ(self) -> PolicyFile:
        both = {r.id for r in self.rules} & {f.id for f in self.freezes}
        if both:
            msg = f"id(s) {sorted(both)} name both a rule and a freeze"
            raise ValueError(msg)
        return self


class Policy:
    """A loaded policy: the validated file and its content hash.

    Examples
    --------
    >>> p = Policy.from_text("rules: [{id: r1, verbs: [restart], effect: autonomous}]")
    >>> p.file.rules[0].effect, len(p.hash)
    (<Effect.AUTONOMOUS: 'autonomous'>, 16)
    """

    def __init__(self, file: PolicyFile, hash: str, path: str = "<policy>") -> None:
        self.file = file
        self.hash = hash
        self.path = path

    @classmethod
    def from_text(cls, text: str, path: str = "<policy>") -> Policy:
        model = load_model(text, path, PolicyFile, PolicyFileError)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return cls(model, digest, path)
