"""The policy file: its schema, its loader and its content hash (the version that decides)."""

from __future__ import annotations

import fnmatch
import hashlib
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from setpoint.errors import PolicyFileError
from setpoint.schemas import Verb
from setpoint.yamlfile import load_model


class Effect(StrEnum):
    AUTONOMOUS = "autonomous"
    APPROVAL = "approval"
    ADVISORY = "advisory"
    SHADOW = "shadow"
    DENY = "deny"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Frozen):
    """Caps that hold whatever a rule says."""

    max_actions_per_minute: Annotated[int, Field(ge=0)] = 6
    max_concurrent_per_domain: Annotated[int, Field(ge=0)] = 3
    cooldown_s: Annotated[float, Field(ge=0)] = 300.0
    """After an action on a target, no other action on it for this long (event time)."""
    max_attempts_per_incident: Annotated[int, Field(ge=1)] = 3
    approval_timeout_s: Annotated[float, Field(gt=0)] = 900.0
    command_ttl_s: Annotated[float, Field(gt=0)] = 300.0


class Rule(_Frozen):
    """Who may do what where. The first rule that matches a proposal decides its effect."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str = ""
    verbs: list[str] = ["*"]
    services: list[str] = ["*"]
    """Glob patterns of service names."""
    tiers: list[int] | None = None
    effect: Effect

    @field_validator("verbs")
    @classmethod
    def _known_verbs(cls, v: list[str]) -> list[str]:
        known = {str(x) for x in Verb}
        bad = [x for x in v if x != "*" and x not in known]
        if bad:
            msg = f"unknown verb(s) {bad}; known: {sorted(known)}"
            raise ValueError(msg)
        return v

    def matches(self, verb: str, service: str, tier: int | None) -> bool:
        if "*" not in self.verbs and verb not in self.verbs:
            return False
        if not any(fnmatch.fnmatchcase(service, p) for p in self.services):
            return False
        return self.tiers is None or (tier is not None and tier in self.tiers)


class PolicyFile(_Frozen):
    version: int = 1
    default_effect: Effect = Effect.ADVISORY
    """What happens when no rule matches: propose to a human, never act."""
    limits: Limits = Limits()
    rules: list[Rule] = []

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, v: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for r in v:
            if r.id in seen:
                msg = f"rule id {r.id!r} is used twice"
                raise ValueError(msg)
            seen.add(r.id)
        return v


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
