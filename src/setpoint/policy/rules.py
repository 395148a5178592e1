"""What a policy rule matches and what it says: selectors (verb, service, tier, region, labels,
agent, time window), effects and caps. Pure: values in, a match or the reason it failed out.

A selector field left out matches everything; a list matches any of its items; ``labels`` must all
hold. ``mismatch`` returns ``None`` on a match, else the first reason it does not match, so the
envelope and ``setpoint policy explain`` share one code path.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from setpoint.schemas import Verb

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = r"^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$"


class Effect(StrEnum):
    """What a rule lets happen, from most to least permissive."""

    AUTONOMOUS = "autonomous"
    APPROVAL = "approval"
    ADVISORY = "advisory"
    SHADOW = "shadow"
    DENY = "deny"


_RANK = {Effect.DENY: 0, Effect.SHADOW: 1, Effect.ADVISORY: 2, Effect.APPROVAL: 3,
         Effect.AUTONOMOUS: 4}  # fmt: skip


def strictest(a: Effect, b: Effect) -> Effect:
    """The less permissive of two effects.

    Examples
    --------
    >>> strictest(Effect.AUTONOMOUS, Effect.APPROVAL)
    <Effect.APPROVAL: 'approval'>
    """
    return a if _RANK[a] <= _RANK[b] else b


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Subject:
    """The facts a selector is matched against: who wants to do what, to which service."""

    verb: str
    service: str
    agent: str = "*"
    tier: int | None = None
    regions: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class Window(_Frozen):
    """When a rule applies: weekdays and hours in a time zone, and/or an absolute span.

    Examples
    --------
    >>> w = Window(days=["mon", "tue", "wed", "thu", "fri"], hours="09:00-18:00")
    >>> w.contains(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("UTC")).timestamp())  # a Monday
    True
    >>> w.contains(datetime(2026, 1, 4, 10, tzinfo=ZoneInfo("UTC")).timestamp())  # a Sunday
    False
    """

    days: list[Weekday] | None = None
    hours: Annotated[str, Field(pattern=_HOURS)] | None = None
    """``HH:MM-HH:MM`` local time; an end before the start spans midnight."""
    tz: str = "UTC"
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown time zone {v!r}"
            raise ValueError(msg) from exc
        return v

    @model_validator(mode="after")
    def _sane(self) -> Window:
        if self.start and self.end and self.end <= self.start:
            msg = "end must be after start"
            raise ValueError(msg)
        if not (self.days or self.hours or self.start or self.end):
            msg = "give at least one of days, hours, start, end"
            raise ValueError(msg)
        return self

    def contains(self, t: float) -> bool:
        local = datetime.fromtimestamp(t, ZoneInfo(self.tz))
        if (self.start and local < self.start) or (self.end and local >= self.end):
            return False
        if self.days and _DAYS[local.weekday()] not in self.days:
            return False
        return self.hours is None or _in_hours(self.hours, local.hour * 60 + local.minute)

    def describe(self) -> str:
        parts = []
        if self.days:
            parts.append(",".join(self.days))
        if self.hours:
            parts.append(f"{self.hours} {self.tz}")
        if self.start:
            parts.append(f"from {self.start.isoformat()}")
        if self.end:
            parts.append(f"until {self.end.isoformat()}")
        return " ".join(parts)


def _in_hours(hours: str, minute: int) -> bool:
    a, b = (int(x[:2]) * 60 + int(x[3:]) for x in hours.split("-"))
    return a <= minute < b if a <= b else minute >= a or minute < b


class Selector(_Frozen):
    """Which proposals a rule, a cap or a freeze is about.

    Examples
    --------
    >>> sel = Selector(verbs=["restart"], services=["pay*"], tiers=[0, 1])
    >>> sel.mismatch(Subject("restart", "payments", tier=1)) is None
    True
    >>> sel.mismatch(Subject("restart", "payments", tier=2))
    'payments is tier 2, not in [0, 1]'
    """

    verbs: list[str] = ["*"]
    services: list[str] = ["*"]
    """Glob patterns of service names."""
    tiers: list[int] | None = None
    regions: list[str] | None = None
    """Matches a service that runs in any of these regions (from the policy's ``inventory``)."""
    labels: dict[str, str] = {}
    """Every ``key: glob`` must hold for the service's labels (from the policy's ``inventory``)."""
    agents: list[str] = ["*"]
    """Glob patterns of agent identities."""
    when: Window | None = None

    @field_validator("verbs")
    @classmethod
    def _known_verbs(cls, v: list[str]) -> list[str]:
        known = {str(x) for x in Verb}
        bad = [x for x in v if x != "*" and x not in known]
        if bad:
            msg = f"unknown verb(s) {bad}; known: {sorted(known)}"
            raise ValueError(msg)
        return v

    def mismatch(self, s: Subject, t: float | None = None) -> str | None:
        """``None`` if ``s`` matches (at time ``t``; ``None``: ignore ``when``), else why not."""
        if "*" not in self.verbs and s.verb not in self.verbs:
            return f"verb {s.verb} is not in {self.verbs}"
        if not _glob_any(s.service, self.services):
            return f"service {s.service} matches none of {self.services}"
        if self.tiers is not None and s.tier not in self.tiers:
            return f"{s.service} is tier {s.tier}, not in {self.tiers}"
        if self.regions is not None and not set(self.regions) & set(s.regions):
            return f"{s.service} runs in {list(s.regions)}, none of {self.regions}"
        for k, pat in self.labels.items():
            if not fnmatch.fnmatchcase(s.labels.get(k, ""), pat):
                return f"{s.service} label {k}={s.labels.get(k, '<unset>')}, not {pat}"
        if not _glob_any(s.agent, self.agents):
            return f"agent {s.agent} matches none of {self.agents}"
        if t is not None and self.when is not None and not self.when.contains(t):
            return f"outside its window ({self.when.describe()})"
        return None

    def describe(self) -> str:
        parts = [_words("verb", self.verbs), _words("service", self.services)]
        if self.tiers is not None:
            parts.append(f"tier {'/'.join(map(str, self.tiers))}")
        if self.regions is not None:
            parts.append(f"in region {'/'.join(self.regions)}")
        parts += [f"label {k}={v}" for k, v in self.labels.items()]
        if self.agents != ["*"]:
            parts.append(_words("agent", self.agents))
        if self.when is not None:
            parts.append(f"when {self.when.describe()}")
        return ", ".join(parts)


def _glob_any(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _words(what: str, items: list[str]) -> str:
    return f"any {what}" if "*" in items else f"{what} {'/'.join(items)}"


class Caps(_Frozen):
    """Caps on the actions a rule matches; every matching rule's caps hold, with the global ones."""

    max_concurrent: Annotated[int, Field(ge=0)] | None = None
    """Actions in flight at once."""
    max_per_window: Annotated[int, Field(ge=0)] | None = None
    """Actions started per ``window_s``."""
    window_s: Annotated[float, Field(gt=0)] = 300.0
    max_instances: Annotated[int, Field(ge=0)] | None = None
    """Instances touched (targets and their dependents) by actions in flight or started per
    ``window_s``."""
    max_service_share: Annotated[float, Field(ge=0, le=1)] | None = None
    """Share of any one service's instances being acted on at once."""
    max_fleet_share: Annotated[float, Field(ge=0, le=1)] | None = None
    """Share of the fleet's instances touched per ``window_s``."""
    cooldown_s: Annotated[float, Field(ge=0)] | None = None
    max_attempts: Annotated[int, Field(ge=1)] | None = None
    """Actions per incident."""


_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class Rule(Selector):
    """Who may do what where. The first matching rule with an ``effect`` decides the effect; the
    ``caps`` of every matching rule hold."""

    id: Annotated[str, Field(pattern=_ID)]
    description: str = ""
    effect: Effect | None = None
    pinned: bool = False
    """The effect is a human's decision: trust scores do not lower it."""
    caps: Caps | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Rule:
        if self.effect is None and self.caps is None:
            msg = "a rule needs an effect, caps, or both"
            raise ValueError(msg)
        return self


class ChangeFreeze(Selector):
    """A change freeze: between ``start`` and ``end`` matching actions get at most ``effect``."""

    id: Annotated[str, Field(pattern=_ID)]
    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""
    effect: Effect = Effect.DENY

    @model_validator(mode="after")
    def _ordered(self) -> ChangeFreeze:
        if self.end <= self.start:
            msg = "end must be after start"
            raise ValueError(msg)
        return self

    def active(self, t: float) -> bool:
        return self.start.timestamp() <= t < self.end.timestamp()
