"""The faults the fleet can suffer, one small class each, and the planned changes (red herrings).

A fault starts at ``at`` seconds after the fleet's start. Most faults *change the state* of their
service (a bad version deployed, a cache poisoned, a region down, an expiry time reached), so they
last exactly until an action changes that state back: that is what makes remedies causal. The
others (a load surge, a memory leak, the novel fault) add an :class:`~setpoint.sim.physics.Effect`
while they are active. ``remedies`` is the set of verbs that really repairs the fault in this model;
``expect`` is the ground truth a scenario declares for scoring, checked against it.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from setpoint.clock import to_datetime
from setpoint.schemas import ChangeEvent, ChangeType, FaultClass, Verb
from setpoint.schemas.base import ServiceName
from setpoint.sim.physics import Effect, Reading, down_share
from setpoint.sim.spec import Region
from setpoint.sim.state import PRESSURE_AT, Defect, Leak, World

_Offset = Annotated[float, Field(ge=0.0)]
_Share = Annotated[float, Field(gt=0.0, le=1.0)]


class GroundTruth(BaseModel):
    """What a scenario declares a fault to be, so a runner can score the loop's answer.

    Examples
    --------
    >>> GroundTruth(root="inventory", fault_class="unknown", fixed_by=[]).fixed_by
    []
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: ServiceName
    fault_class: FaultClass
    fixed_by: list[Verb]
    """Verbs that fix it; empty when nothing does and the right answer is escalation."""


class TimelineItem(BaseModel):
    """Something that happens to one service at ``at`` seconds after the start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ServiceName
    at: _Offset
    duration_s: Annotated[float, Field(gt=0.0)] | None = None
    """For a fault: how long its cause lasts by itself; ``None``: until something fixes it."""

    def onset(self, world: World) -> float:
        return world.start + self.at

    def prepare(self, world: World) -> None:
        """Set up state before the run (a scheduled expiry); most items need nothing."""

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        """Apply the item at its onset; return the change events it makes visible."""
        return []

    def end(self, world: World, t: float) -> list[ChangeEvent]:
        """Undo the cause when ``duration_s`` runs out."""
        return []


class Fault(TimelineItem):
    """Base of every fault: an id, its ground truth, and how it shows and heals."""

    fault: str
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    expect: GroundTruth

    fault_class: ClassVar[FaultClass]
    remedies: ClassVar[frozenset[Verb]]

    def effect(self, world: World, t: float) -> Effect | None:
        """What it adds to its service at ``t`` (``t`` is past the onset)."""
        return None

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        """Whether its cause still hurts the service at ``t`` (ground truth, for scoring).

        ``reading`` is the service's latest noise-free reading, if any.
        """
        raise NotImplementedError

    def _active(self, world: World, t: float) -> bool:
        start = self.onset(world)
        end = math.inf if self.duration_s is None else start + self.duration_s
        return start <= t < end


class BadDeploy(Fault):
    """A deploy of a defective ``version``: errors and latency up until it is rolled back.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "bad_deploy",
    ...      "fixed_by": ["rollback_deploy"]}
    >>> f = BadDeploy(service="api", at=60, version="2.0", expect=t)
    >>> [c.summary for c in f.begin(w, 60.0)], f.symptomatic(w, 61.0, None)
    (['deploy api 1.0.0 -> 2.0'], True)
    """

    fault: Literal["bad_deploy"] = "bad_deploy"
    version: Annotated[str, Field(min_length=1, max_length=64)]
    error_rate: _Share = 0.25
    latency_factor: Annotated[float, Field(ge=1.0, le=50.0)] = 1.6
    message: str = "Unhandled exception: KeyError 'currency' in OrderSerializer.to_wire"

    fault_class = FaultClass.BAD_DEPLOY
    remedies = frozenset({Verb.ROLLBACK_DEPLOY})

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        key = (self.service, self.version)
        world.defects[key] = Defect(self.error_rate, self.latency_factor, self.message)
        return [world.deploy(self.service, self.version, t, author="ci")]

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        return world.services[self.service].version == self.version


class MemoryLeak(Fault):
    """Each instance's memory climbs from its start until it hangs at the limit.

    A restart (or the rolling restart of a redeploy) empties the memory, but the leak is in the
    code: memory climbs again from there, and the service hurts again after
    ``headroom / mb_per_s`` seconds. A slow leak therefore recovers over a verification window of
    a few minutes; a fast one does not.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "memory_leak",
    ...      "fixed_by": ["restart"]}
    >>> f = MemoryLeak(service="api", at=0, mb_per_s=2.0, expect=t)
    >>> _ = f.begin(w, 0.0)
    >>> api = w.services["api"]
    >>> api.memory_of(api.instances[0], 100.0), f.symptomatic(w, 100.0, None)
    (500.0, False)
    """

    fault: Literal["memory_leak"] = "memory_leak"
    mb_per_s: Annotated[float, Field(gt=0.0, le=1000.0)] = 1.5

    fault_class = FaultClass.MEMORY_LEAK
    remedies = frozenset({Verb.RESTART, Verb.ROLLBACK_DEPLOY})

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        until = math.inf if self.duration_s is None else t + self.duration_s
        world.services[self.service].leaks.append(Leak(self.mb_per_s, t, until))
        return []

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        s = world.services[self.service]
        limit = PRESSURE_AT * s.spec.memory_limit_mb
        return any(s.memory_of(i, t) >= limit for i in s.instances)


class Saturation(Fault):
    """A surge: ``factor`` times the usual requests arrive at the service (and at its callees).

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "saturation",
    ...      "fixed_by": ["scale"]}
    >>> f = Saturation(service="api", at=0, factor=4.0, duration_s=600, expect=t)
    >>> f.effect(w, 10.0).load_factor, f.effect(w, 700.0)
    (4.0, None)
    """

    fault: Literal["saturation"] = "saturation"
    factor: Annotated[float, Field(gt=1.0, le=100.0)] = 3.0

    fault_class = FaultClass.SATURATION
    remedies = frozenset({Verb.SCALE})

    def effect(self, world: World, t: float) -> Effect | None:
        return Effect(load_factor=self.factor) if self._active(world, t) else None

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        """Still overloaded: the surge is on and some region runs past 90% of its capacity."""
        return self._active(world, t) and reading is not None and reading.saturation > 0.9


class PoisonedCache(Fault):
    """Corrupt entries in the service's cache: ``cache_corrupt`` errors until it is flushed.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "poisoned_cache",
    ...      "fixed_by": ["flush_cache"]}
    >>> f = PoisonedCache(service="api", at=0, expect=t)
    >>> _ = f.begin(w, 0.0); f.symptomatic(w, 1.0, None)
    True
    """

    fault: Literal["poisoned_cache"] = "poisoned_cache"

    fault_class = FaultClass.POISONED_CACHE
    remedies = frozenset({Verb.FLUSH_CACHE})

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        world.services[self.service].cache_poisoned = True
        return []

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        return world.services[self.service].cache_poisoned


class ExpiredCertificate(Fault):
    """The service's TLS certificate expires at the onset: its callers fail the handshake.

    The expiry is scheduled from the start, so the fleet announces it as a
    ``certificate_expiry`` change event well before it happens.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "expired_certificate",
    ...      "fixed_by": ["renew_certificate"]}
    >>> f = ExpiredCertificate(service="api", at=120, expect=t)
    >>> f.prepare(w); f.symptomatic(w, 119.0, None), f.symptomatic(w, 120.0, None)
    (False, True)
    """

    fault: Literal["expired_certificate"] = "expired_certificate"

    fault_class = FaultClass.EXPIRED_CERTIFICATE
    remedies = frozenset({Verb.RENEW_CERTIFICATE})

    def prepare(self, world: World) -> None:
        world.services[self.service].cert_expires_at = self.onset(world)

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        return world.services[self.service].cert_expired(t)


class ExpiredCredential(Fault):
    """The credential the service presents to its callees stops working: ``auth_denied``.

    ``expired``: it reaches its (announced) expiry time. ``leaked``: it is found exposed and
    revoked at the onset, without warning.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "expired_credential",
    ...      "fixed_by": ["rotate_credential"]}
    >>> f = ExpiredCredential(service="api", at=5, mode="leaked", expect=t)
    >>> [str(c.change_type) for c in f.begin(w, 5.0)], f.symptomatic(w, 6.0, None)
    (['credential_expiry'], True)
    """

    fault: Literal["expired_credential"] = "expired_credential"
    mode: Literal["expired", "leaked"] = "expired"

    fault_class = FaultClass.EXPIRED_CREDENTIAL
    remedies = frozenset({Verb.ROTATE_CREDENTIAL})

    def prepare(self, world: World) -> None:
        if self.mode == "expired":
            world.services[self.service].credential_expires_at = self.onset(world)

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        if self.mode == "expired":
            return []
        world.services[self.service].credential_revoked = True
        summary = f"credential of {self.service} revoked: found in a public repository"
        return [
            world.change(
                self.service,
                ChangeType.CREDENTIAL_EXPIRY,
                t,
                expires_at=t,
                author="security",
                summary=summary,
            )
        ]

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        return not world.services[self.service].credential_valid(t)


class DependencyOutage(Fault):
    """One region of the service goes down: callers routed there get ``upstream_unavailable``.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "dependency_outage",
    ...      "fixed_by": ["shift_traffic"]}
    >>> f = DependencyOutage(service="api", at=0, region="us", expect=t)
    >>> _ = f.begin(w, 0.0); w.services["api"].down_regions, f.symptomatic(w, 1.0, None)
    ({'us'}, True)
    """

    fault: Literal["dependency_outage"] = "dependency_outage"
    region: Region

    fault_class = FaultClass.DEPENDENCY_OUTAGE
    remedies = frozenset({Verb.SHIFT_TRAFFIC})

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        world.services[self.service].down_regions.add(self.region)
        return []

    def end(self, world: World, t: float) -> list[ChangeEvent]:
        world.services[self.service].down_regions.discard(self.region)
        return []

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        s = world.services[self.service]
        return self.region in s.down_regions and down_share(s) > 0


class Novel(Fault):
    """Something the model has no lever for (say, a clock-skew bug in a vendor library): errors
    and latency no action changes. The right answer is to escalate to a human.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> t = {"root": "api", "fault_class": "unknown",
    ...      "fixed_by": []}
    >>> f = Novel(service="api", at=0, expect=t)
    >>> f.effect(w, 1.0).error_class, f.remedies
    ('clock_skew', frozenset())
    """

    fault: Literal["novel"] = "novel"
    error_rate: _Share = 0.2
    latency_factor: Annotated[float, Field(ge=1.0, le=50.0)] = 2.0
    error_class: Annotated[str, Field(min_length=1, max_length=64)] = "clock_skew"
    message: str = "ledger reconciliation rejected write: clock drift 4.2s exceeds tolerance"

    fault_class = FaultClass.UNKNOWN
    remedies = frozenset()

    def effect(self, world: World, t: float) -> Effect | None:
        if not self._active(world, t):
            return None
        return Effect(
            error_rate=self.error_rate,
            error_class=self.error_class,
            message=self.message,
            latency_factor=self.latency_factor,
        )

    def symptomatic(self, world: World, t: float, reading: Reading | None) -> bool:
        return self._active(world, t)


class PlannedChange(TimelineItem):
    """A change that breaks nothing: a red herring (a harmless deploy just before a failure).

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"cache": True}}), start=0.0, id_prefix="d")
    >>> c = PlannedChange(change="deploy", service="api", at=30, version="1.0.1")
    >>> [e.summary for e in c.begin(w, 30.0)], w.defects
    (['deploy api 1.0.0 -> 1.0.1'], {})
    """

    change: Literal["deploy", "config", "feature_flag", "maintenance"]
    version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    summary: str = ""

    def begin(self, world: World, t: float) -> list[ChangeEvent]:
        if self.change == "deploy":
            version = self.version or f"{world.services[self.service].version}+1"
            return [world.deploy(self.service, version, t, author="ci")]
        ends = None if self.duration_s is None else world.start + self.at + self.duration_s
        return [
            world.change(
                self.service,
                ChangeType(self.change),
                t,
                author="ops",
                ends_at=None if ends is None else to_datetime(ends),
                summary=self.summary or f"{self.change} change on {self.service}",
            )
        ]


class TrafficShift(TimelineItem):
    """A benign change of load, not a fault: a marketing e-mail, a batch job, a quiet holiday.

    ``factor`` multiplies the requests arriving at the service (and what it forwards to its
    callees) from ``at`` for ``duration_s`` (or to the end). Within capacity it breaks nothing,
    but request rates, cpu and latencies move: a red herring for detection, and the noise of a
    realistic quiet period.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {}}), start=0.0, id_prefix="d")
    >>> s = TrafficShift(traffic="surge", service="api", at=10, factor=1.5, duration_s=60)
    >>> s.effect(w, 20.0).load_factor, s.effect(w, 80.0)
    (1.5, None)
    """

    traffic: Literal["surge", "drop"]
    factor: Annotated[float, Field(gt=0.0, le=100.0)] = 1.5

    def effect(self, world: World, t: float) -> Effect | None:
        start = self.onset(world)
        end = math.inf if self.duration_s is None else start + self.duration_s
        return Effect(load_factor=self.factor) if start <= t < end else None


FAULTS: dict[str, type[Fault]] = {
    cls.model_fields["fault"].default: cls
    for cls in (
        BadDeploy,
        MemoryLeak,
        Saturation,
        PoisonedCache,
        ExpiredCertificate,
        ExpiredCredential,
        DependencyOutage,
        Novel,
    )
}
"""Every fault class by its name in scenario files."""
