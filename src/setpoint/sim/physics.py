"""How the fleet behaves: from its state, its load and the active fault effects to noise-free
readings per service. Pure and deterministic: the noise is added later, by :mod:`emit`.

Two passes over the dependency graph:

* **load, callers first.** Requests arrive at the entry services; each service forwards
  ``calls`` requests per request it receives to each callee. Calls that fail before reaching the
  callee (an expired certificate of the callee, an expired credential of the caller, a region that
  is down) never arrive, so a callee behind a broken edge goes quiet. Utilisation per region is
  what arrives there over the capacity of the instances there.
* **health, callees first.** A service's latency is its own processing time (slowed by queueing,
  memory pressure, a cold cache, a bad version) plus the latency of the calls it makes; its error
  rate combines its own failures with its callees' failures, attenuated per edge (retries and
  fallbacks hide part of them). That is how a fault propagates from callee to caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from setpoint.sim.state import PRESSURE_AT, Defect, ServiceState, World

COLD_CACHE_S = 60.0
"""How long a flushed cache takes to warm up again."""
_MAX_RHO = 0.98


@dataclass(frozen=True)
class Effect:
    """What an active fault adds to one service (faults that are not a change of state).

    Examples
    --------
    >>> Effect(load_factor=3.0).error_rate
    0.0
    """

    load_factor: float = 1.0
    error_rate: float = 0.0
    error_class: str = "exception"
    message: str = ""
    latency_factor: float = 1.0


@dataclass(frozen=True)
class Failure:
    """A share of a service's requests failing for one reason (one log ``error_class``)."""

    error_class: str
    share: float
    message: str


@dataclass(frozen=True)
class EdgeReading:
    callee: str
    calls: float
    fail: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class InstanceReading:
    name: str
    region: str
    up: bool
    hung: bool
    memory_mb: float
    rho: float


@dataclass
class Reading:
    """One service at one moment, before measurement noise.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"web": {"entry_rps": 40, "depends_on": ["db"]}, "db": {}}),
    ...           start=0.0, id_prefix="d")
    >>> r = evaluate(w, {}, {"web": 40.0}, 0.0)
    >>> r["db"].request_rate, [e.callee for e in r["web"].edges]
    (40.0, ['db'])
    >>> r["web"].latency_p50_ms > r["db"].latency_p50_ms
    True
    """

    service: str
    request_rate: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    error_rate: float = 0.0
    cpu: float = 0.0
    memory_mb: float = 0.0
    saturation: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    edges: list[EdgeReading] = field(default_factory=list)
    instances: list[InstanceReading] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "error_rate": self.error_rate,
            "request_rate": self.request_rate,
            "cpu": self.cpu,
            "memory_mb": self.memory_mb,
            "saturation": self.saturation,
        }


def combine(shares: Sequence[float]) -> float:
    """Share of requests failing when each cause fails an independent share of them.

    Examples
    --------
    >>> combine([0.5, 0.5])
    0.75
    """
    ok = 1.0
    for s in shares:
        ok *= 1.0 - min(1.0, max(0.0, s))
    return 1.0 - ok


def evaluate(
    world: World, effects: Mapping[str, Sequence[Effect]], entry: Mapping[str, float], t: float
) -> dict[str, Reading]:
    """Readings of every service at ``t`` given the external load ``entry`` (requests/s)."""
    arrivals = _load(world, effects, entry, t)
    readings: dict[str, Reading] = {}
    for name in reversed(world.order):
        s = world.services[name]
        defect = world.defects.get((name, s.version))
        r = _own(s, arrivals[name], [*effects.get(name, ())], defect, t)
        _add_calls(world, s, r, readings, t)
        readings[name] = r
    return readings


def _load(
    world: World, effects: Mapping[str, Sequence[Effect]], entry: Mapping[str, float], t: float
) -> dict[str, float]:
    """Requests/s arriving at each service (before regional routing), callers first."""
    arrivals = {name: entry.get(name, 0.0) for name in world.order}
    for name in world.order:
        s = world.services[name]
        arrivals[name] *= math.prod(e.load_factor for e in effects.get(name, ()))
        served = arrivals[name] * (1.0 - down_share(s))
        for dep in s.spec.depends_on:
            callee = world.services[dep.service]
            sent = served * dep.calls * _cold_factor(s, t)
            arrivals[dep.service] += sent * (1.0 - _hard_fail(s, dep.auth, callee, t))
    return arrivals


def down_share(s: ServiceState) -> float:
    """Share of a service's traffic routed to regions that are down or have no instances."""
    total = sum(s.traffic.values()) or 1.0
    dead = sum(
        w for r, w in s.traffic.items() if r in s.down_regions or not s.in_region(r)
    )  # fmt: skip
    return dead / total


def _hard_fail(caller: ServiceState, auth: bool, callee: ServiceState, t: float) -> float:
    """Share of calls that fail before reaching the callee (TLS, credential)."""
    tls = 1.0 if callee.cert_expired(t) else 0.0
    denied = 1.0 if auth and not caller.credential_valid(t) else 0.0
    return combine([tls, denied])


def _cold_factor(s: ServiceState, t: float) -> float:
    """1 with a warm cache, up to 2 right after a flush (every lookup goes to the callees)."""
    return 1.0 + max(0.0, min(1.0, (s.cache_cold_until - t) / COLD_CACHE_S))


def _own(
    s: ServiceState, arrived: float, effects: list[Effect], defect: Defect | None, t: float
) -> Reading:
    """The service's own load, latency and failures, before adding the calls it makes."""
    total_w = sum(s.traffic.values()) or 1.0
    insts: list[InstanceReading] = []
    served = 0.0
    for region in s.regions:
        members = s.in_region(region)
        down = region in s.down_regions
        rate = 0.0 if down or not members else arrived * s.traffic.get(region, 0.0) / total_w
        served += rate
        rho = rate / (len(members) * s.spec.capacity_rps) if members else 0.0
        insts += [
            InstanceReading(
                i.name, region, not down, s.hung(i, t), s.memory_of(i, t), 0.0 if down else rho
            )
            for i in members
        ]
    live = [i for i in insts if i.up]
    r = Reading(service=s.name, request_rate=served, instances=insts)
    r.memory_mb = sum(i.memory_mb for i in live) / len(live) if live else 0.0
    _own_health(s, r, live, effects, defect, t)
    return r


def _own_health(
    s: ServiceState,
    r: Reading,
    live: list[InstanceReading],
    effects: list[Effect],
    defect: Defect | None,
    t: float,
) -> None:
    rho = sum(i.rho for i in live) / len(live) if live else 0.0
    rho_max = max((i.rho for i in live), default=0.0)
    hung = sum(1 for i in live if i.hung) / len(live) if live else 0.0
    pressure = _pressure(s, live)
    cold = _cold_factor(s, t) - 1.0
    q = min(rho_max, _MAX_RHO)
    latency = s.spec.latency_ms * (1.0 + 0.5 * q / (1.0 - q)) * (1.0 + 3.0 * pressure)
    latency *= (1.0 + 0.8 * cold) * math.prod(e.latency_factor for e in effects)
    failures = [Failure("exception", s.spec.error_rate, "")]
    if defect is not None:
        latency *= defect.latency_factor
        failures.append(Failure("exception", defect.error_rate, defect.message))
    if s.cache_poisoned:
        failures.append(Failure("cache_corrupt", 0.3, ""))
    if rho_max > 1.0:
        failures.append(Failure("overloaded", 1.0 - 1.0 / rho_max, ""))
    if hung or pressure:
        failures.append(Failure("oom", max(hung, 0.05 * pressure), ""))
    failures += [Failure(e.error_class, e.error_rate, e.message) for e in effects if e.error_rate]
    r.failures = failures
    r.error_rate = combine([f.share for f in failures]) if r.request_rate > 0 else 0.0
    r.latency_p50_ms = latency
    r.latency_p99_ms = latency * (3.0 + 4.0 * min(rho_max, 1.0) ** 2)
    r.cpu = min(1.0, 0.05 + 0.8 * min(rho, 1.0) + 0.4 * pressure + 0.1 * cold)
    r.saturation = min(1.0, rho_max)


def _pressure(s: ServiceState, live: list[InstanceReading]) -> float:
    """0 below :data:`PRESSURE_AT` of the memory limit, 1 at the limit (mean over instances)."""
    if not live:
        return 0.0
    limit = s.spec.memory_limit_mb
    each = [
        max(0.0, min(1.0, (i.memory_mb / limit - PRESSURE_AT) / (1 - PRESSURE_AT))) for i in live
    ]
    return sum(each) / len(each)


def _add_calls(
    world: World, s: ServiceState, r: Reading, readings: Mapping[str, Reading], t: float
) -> None:
    """Add the latency and failures of the calls ``s`` makes (callees are already evaluated)."""
    shares = [f.share for f in r.failures]
    for dep in s.spec.depends_on:
        callee, seen = world.services[dep.service], readings[dep.service]
        tls = 1.0 if callee.cert_expired(t) else 0.0
        denied = 1.0 if dep.auth and not s.credential_valid(t) else 0.0
        down = down_share(callee)
        hard = combine([tls, denied, down])
        fail = combine([hard, seen.error_rate])
        weight = dep.attenuation * min(1.0, dep.calls)
        name = dep.service
        for cls, share, msg in (
            ("tls_handshake", tls, f"TLS handshake with {name} failed: certificate has expired"),
            ("auth_denied", denied, f"call to {name} denied: 401 credential expired or revoked"),
            ("upstream_unavailable", down, f"{name}: connection refused ({_dead(callee)})"),
            ("upstream_error", (1 - hard) * seen.error_rate, f"{name} returned 503"),
        ):
            if share > 0:
                r.failures.append(Failure(cls, weight * share, msg))
        shares.append(weight * fail)
        p50 = (1.0 - hard) * seen.latency_p50_ms + hard * 2.0 + 1.0
        p99 = (1.0 - hard) * seen.latency_p99_ms + hard * 5.0 + 2.0
        r.edges.append(EdgeReading(dep.service, dep.calls, fail, p50, p99))
        calls = dep.calls * _cold_factor(s, t)
        r.latency_p50_ms += calls * p50
        r.latency_p99_ms += min(1.0, calls) * p99
    if r.request_rate > 0:
        r.error_rate = combine(shares)


def _dead(s: ServiceState) -> str:
    dead = sorted(r for r in s.traffic if r in s.down_regions or not s.in_region(r))
    return "region " + ", ".join(dead) if dead else "no region"
