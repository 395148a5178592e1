"""The fleet's mutable state: what faults break and actions repair.

Everything a fault does to the fleet and everything an action does is a change to these objects
(a version, a cache flag, an expiry time, a traffic split, the start time of an instance); the
telemetry is then derived from them by :mod:`setpoint.sim.physics`. That is what makes effects
causal: an action fixes a fault only if it changes the state the fault broke.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from setpoint.clock import to_datetime
from setpoint.schemas import ChangeEvent, ChangeType
from setpoint.sim.spec import DAY_S, FleetSpec, ServiceSpec

PRESSURE_AT = 0.85
"""Share of the memory limit above which garbage collection starts to hurt."""


@dataclass
class Instance:
    name: str
    region: str
    started_at: float


@dataclass(frozen=True)
class Defect:
    """What is wrong with one version of a service (a bad deploy)."""

    error_rate: float
    latency_factor: float
    message: str


@dataclass(frozen=True)
class Leak:
    """Memory an instance gains per second between ``since`` and ``until``.

    Examples
    --------
    >>> Leak(2.0, since=100.0).leaked(started_at=150.0, t=200.0)
    100.0
    """

    mb_per_s: float
    since: float
    until: float = math.inf

    def leaked(self, started_at: float, t: float) -> float:
        return self.mb_per_s * max(0.0, min(t, self.until) - max(self.since, started_at))


@dataclass
class ServiceState:
    """One service now. Plain data; :meth:`to_dict` is its JSON view."""

    name: str
    spec: ServiceSpec
    regions: list[str]
    version: str
    previous_version: str | None
    instances: list[Instance]
    cert_expires_at: float
    credential_expires_at: float
    traffic: dict[str, float]
    credential_revoked: bool = False
    cache_poisoned: bool = False
    cache_cold_until: float = -math.inf
    down_regions: set[str] = field(default_factory=set)
    leaks: list[Leak] = field(default_factory=list)
    next_index: int = 0

    def memory_of(self, inst: Instance, t: float) -> float:
        return self.spec.memory_mb + sum(leak.leaked(inst.started_at, t) for leak in self.leaks)

    def hung(self, inst: Instance, t: float) -> bool:
        return self.memory_of(inst, t) >= self.spec.memory_limit_mb

    def cert_expired(self, t: float) -> bool:
        return t >= self.cert_expires_at

    def credential_valid(self, t: float) -> bool:
        return not self.credential_revoked and t < self.credential_expires_at

    def in_region(self, region: str) -> list[Instance]:
        return [i for i in self.instances if i.region == region]

    def add_instance(self, t: float) -> Instance:
        """A new instance in the region with the fewest (the spread stays even)."""
        region = min(self.regions, key=lambda r: (len(self.in_region(r)), self.regions.index(r)))
        inst = Instance(f"{self.name}-{region}-{self.next_index}", region, t)
        self.next_index += 1
        self.instances.append(inst)
        return inst

    def remove_instance(self) -> Instance:
        """The newest instance of the region with the most."""
        region = max(self.regions, key=lambda r: (len(self.in_region(r)), -self.regions.index(r)))
        inst = self.in_region(region)[-1]
        self.instances.remove(inst)
        return inst

    def to_dict(self, t: float) -> dict[str, Any]:
        return {
            "service": self.name,
            "tier": self.spec.tier,
            "regions": list(self.regions),
            "replicas": len(self.instances),
            "max_replicas": self.spec.replica_cap,
            "version": self.version,
            "previous_version": self.previous_version,
            "cache": None if not self.spec.cache else _cache_state(self, t),
            "cert_expires_at": self.cert_expires_at,
            "credential_expires_at": self.credential_expires_at,
            "credential_revoked": self.credential_revoked,
            "traffic": dict(self.traffic),
            "down_regions": sorted(self.down_regions),
            "depends_on": [d.service for d in self.spec.depends_on],
            "instances": [
                {
                    "name": i.name,
                    "region": i.region,
                    "started_at": i.started_at,
                    "memory_mb": round(self.memory_of(i, t), 1),
                    "up": i.region not in self.down_regions and not self.hung(i, t),
                }
                for i in self.instances
            ],
        }


def _cache_state(s: ServiceState, t: float) -> str:
    if s.cache_poisoned:
        return "poisoned"
    return "cold" if t < s.cache_cold_until else "healthy"


class World:
    """Every service's state, the known defects of versions, and the fleet's id counter.

    Examples
    --------
    >>> w = World(FleetSpec(services={"api": {"replicas": 2}}), start=0.0, id_prefix="t")
    >>> [i.name for i in w.services["api"].instances]
    ['api-eu-0', 'api-us-1']
    >>> w.deploy("api", "2.0.0", 5.0, author="ci").previous_version
    '1.0.0'
    """

    def __init__(self, spec: FleetSpec, start: float, id_prefix: str) -> None:
        self.spec = spec
        self.start = start
        self.id_prefix = id_prefix
        self.order = spec.call_order()
        self.defects: dict[tuple[str, str], Defect] = {}
        self.services = {name: _service(spec, name, start) for name in spec.services}
        self._ids = 0

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self.id_prefix}{self._ids:06d}"

    def replicas_total(self) -> int:
        return sum(len(s.instances) for s in self.services.values())

    def change(self, service: str, kind: ChangeType, t: float, **fields: Any) -> ChangeEvent:
        """A change event of ``service`` at ``t`` with a fresh id."""
        return ChangeEvent(
            change_id=self.next_id("chg"),
            service=service,
            change_type=kind,
            ts=to_datetime(t),
            **fields,
        )

    def deploy(self, service: str, version: str, t: float, *, author: str) -> ChangeEvent:
        """Roll out ``version``: the current one becomes the previous; instances restart."""
        s = self.services[service]
        previous = s.version
        s.previous_version, s.version = previous, version
        for inst in s.instances:
            inst.started_at = t
        return self.change(
            service,
            ChangeType.DEPLOY,
            t,
            version=version,
            previous_version=previous,
            author=author,
            summary=f"deploy {service} {previous} -> {version}",
        )


def _service(spec: FleetSpec, name: str, start: float) -> ServiceState:
    svc = spec.services[name]
    regions = spec.regions_of(name)
    s = ServiceState(
        name=name,
        spec=svc,
        regions=regions,
        version=svc.version,
        previous_version=svc.previous_version,
        instances=[],
        cert_expires_at=start + svc.cert_valid_days * DAY_S,
        credential_expires_at=start + svc.credential_valid_days * DAY_S,
        traffic={r: 1.0 / len(regions) for r in regions},
    )
    for _ in range(svc.replicas):
        s.add_instance(start)
    return s
