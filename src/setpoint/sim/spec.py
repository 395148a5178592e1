"""The declared shape of a simulated fleet: services, dependencies, regions and background load.

Frozen, validated values with no behaviour beyond a few derived numbers;
:class:`~setpoint.sim.Fleet` turns them into mutable state, and the scenario files
(``scenarios/*.yaml``) are parsed into them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from setpoint.schemas.base import ServiceName

DAY_S = 86400.0

_Share = Annotated[float, Field(ge=0.0, le=1.0)]
_Positive = Annotated[float, Field(gt=0.0)]
Region = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Dependency(_Frozen):
    """One edge of the dependency graph, seen from the caller.

    Examples
    --------
    >>> Dependency(service="db", calls=2.0).attenuation
    0.8
    """

    service: ServiceName
    calls: Annotated[float, Field(gt=0.0, le=20.0)] = 1.0
    """Calls to the callee per request the caller serves."""
    attenuation: _Share = 0.8
    """Share of the callee's failures that reach the caller's own responses (retries, fallbacks
    and partial answers hide the rest)."""
    auth: bool = True
    """The caller presents its credential on these calls (an expired credential breaks them)."""


class ServiceSpec(_Frozen):
    """One service as declared: its capacity, its baseline behaviour and what it calls.

    Examples
    --------
    >>> s = ServiceSpec(replicas=3, depends_on=["db", {"service": "cache", "calls": 0.5}])
    >>> [d.service for d in s.depends_on], s.replica_cap
    (['db', 'cache'], 12)
    """

    tier: Annotated[str, Field(max_length=32)] = "app"
    regions: list[Region] | None = None
    """Regions this service runs in; ``None``: every region of the fleet."""
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    """Instances in total, spread evenly over the regions."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)] | None = None
    """The most ``scale`` may give it; ``None``: four times ``replicas``."""
    version: Annotated[str, Field(min_length=1, max_length=64)] = "1.0.0"
    previous_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """What a rollback returns to; ``None``: nothing to roll back to."""
    entry_rps: Annotated[float, Field(ge=0.0)] = 0.0
    """Requests per second from outside the fleet at the daily mean (0 for internal services)."""
    capacity_rps: _Positive = 50.0
    """Requests per second one instance serves before it saturates."""
    latency_ms: _Positive = 20.0
    """Own processing time (p50) at low load, excluding the calls it makes."""
    error_rate: Annotated[float, Field(ge=0.0, le=0.05)] = 0.002
    """Baseline share of failing requests (background exceptions)."""
    memory_mb: _Positive = 300.0
    memory_limit_mb: _Positive = 1024.0
    cache: bool = False
    """Whether it keeps a cache (external to the process: a restart does not empty it)."""
    cert_valid_days: _Positive = 60.0
    """Days from the start until its TLS certificate expires."""
    credential_valid_days: _Positive = 60.0
    """Days from the start until the credential it presents to its callees expires."""
    sample_interval_s: Annotated[float, Field(ge=1.0, le=3600.0)] | None = None
    """Overrides the fleet's sample interval."""
    depends_on: list[Dependency] = Field(default_factory=list)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _names_are_edges(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"service": d} if isinstance(d, str) else d for d in v]
        return v

    @property
    def replica_cap(self) -> int:
        return self.max_replicas or 4 * self.replicas


class LoadProfile(_Frozen):
    """Background load: a daily shape around each entry service's mean, with correlated noise.

    Examples
    --------
    >>> p = LoadProfile(amplitude=0.5, peak_hour_utc=12.0)
    >>> round(p.shape(12 * 3600.0), 3), round(p.shape(0.0), 3)
    (1.5, 0.5)
    """

    amplitude: Annotated[float, Field(ge=0.0, le=0.9)] = 0.3
    """Peak-to-mean swing of the daily shape (0.3: the peak is 30% above the mean)."""
    peak_hour_utc: Annotated[float, Field(ge=0.0, lt=24.0)] = 15.0
    noise: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    """Standard deviation of the relative load noise (an AR(1) process, so it wanders)."""
    correlation: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.85
    """How much of the noise carries over from one sample to the next."""

    def shape(self, t: float) -> float:
        """The daily factor at unix time ``t``: 1 at the mean, ``1 + amplitude`` at the peak."""
        hour = (t % DAY_S) / 3600.0
        return 1.0 + self.amplitude * math.cos(2.0 * math.pi * (hour - self.peak_hour_utc) / 24.0)


class FleetSpec(_Frozen):
    """The whole fleet as declared. :meth:`problems` lists what makes it unusable.

    Examples
    --------
    >>> f = FleetSpec(services={"api": {"depends_on": ["db"]}, "db": {}})
    >>> f.problems()
    []
    >>> FleetSpec(services={"api": {"depends_on": ["nope"]}}).problems()
    [(('services', 'api', 'depends_on', 0, 'service'), "unknown service 'nope'")]
    """

    regions: Annotated[list[Region], Field(min_length=1, max_length=16)] = ["eu", "us"]
    sample_interval_s: Annotated[float, Field(ge=1.0, le=3600.0)] = 10.0
    replica_budget: Annotated[int, Field(ge=1)] | None = None
    """Total instances the fleet may run (the cost of scaling); ``None``: twice the initial."""
    expiry_warning_s: Annotated[float, Field(ge=0.0)] = 7 * DAY_S
    """A certificate or credential expiring this soon is announced as a change event."""
    services: Annotated[dict[ServiceName, ServiceSpec], Field(min_length=1)]

    def regions_of(self, name: str) -> list[str]:
        return list(self.services[name].regions or self.regions)

    def budget(self) -> int:
        return self.replica_budget or 2 * sum(s.replicas for s in self.services.values())

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every reference to a missing service or region, and any dependency cycle."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for name, svc in self.services.items():
            for i, dep in enumerate(svc.depends_on):
                if dep.service not in self.services:
                    loc: tuple[str | int, ...] = ("services", name, "depends_on", i, "service")
                    out.append((loc, f"unknown service {dep.service!r}"))
            for i, region in enumerate(svc.regions or []):
                if region not in self.regions:
                    msg = f"unknown region {region!r} (the fleet has {self.regions})"
                    out.append((("services", name, "regions", i), msg))
        if not out:
            cycle = _cycle(self)
            if cycle:
                out.append((("services", cycle[0], "depends_on"), f"dependency cycle {cycle}"))
        return out

    def call_order(self) -> list[str]:
        """Services ordered so that every caller comes before its callees (declared order kept)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for caller, svc in self.services.items():
                if any(d.service == name for d in svc.depends_on):
                    visit(caller)
            order.append(name)

        for name in self.services:
            visit(name)
        return order


def _cycle(spec: FleetSpec) -> list[str]:
    """A dependency cycle as a path of names, or ``[]``."""
    state: dict[str, int] = {}
    path: list[str] = []

    def dfs(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for dep in spec.services[name].depends_on:
            if state.get(dep.service) == 1:
                return [*path[path.index(dep.service) :], dep.service]
            if dep.service not in state and (found := dfs(dep.service)):
                return found
        path.pop()
        state[name] = 2
        return []

    for name in spec.services:
        if name not in state and (found := dfs(name)):
            return found
    return []
