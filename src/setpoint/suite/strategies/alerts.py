"""Static alert rules, as a team writes them for Prometheus and Alertmanager: fixed thresholds per
service (set from its normal: the median over the history before the scenario starts), each with
a ``for`` duration. The ``runbook`` and ``human`` baselines are paged by them; ``reflex`` pages
through them when its reflexes leave an alert firing.

======================  ===============================================================  =====
rule                    condition                                                        for
======================  ===============================================================  =====
``InstanceDown``        an instance's health check fails                                 60 s
``ErrorRateHigh``       ``error_rate`` above max(5 %, 10 x its normal)                   60 s
``LatencyHigh``         ``latency_p99_ms`` above 3 x its normal                          120 s
``CPUHigh``             ``cpu`` above 0.85                                               120 s
``MemoryHigh``          ``memory_mb`` above 85 % of the container's limit                60 s
``TrafficLow``          ``request_rate`` below 30 % of its normal                        120 s
======================  ===============================================================  =====

An alert *episode* of a service opens when one of its rules fires and closes once none has
fired for ``close_after_s``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from setpoint.schemas import ChangeEvent, Event, HealthCheck, MetricBatch
from setpoint.sim.spec import FleetSpec
from setpoint.suite.trace import Opened

_Cond = Callable[[float, float], bool]
"""``(value, normal) -> breached``."""

RULES: dict[str, tuple[str, _Cond, float]] = {
    "ErrorRateHigh": ("error_rate", lambda v, n: v > max(0.05, 10.0 * n), 60.0),
    "LatencyHigh": ("latency_p99_ms", lambda v, n: v > 3.0 * n, 120.0),
    "CPUHigh": ("cpu", lambda v, n: v > 0.85, 120.0),
    "TrafficLow": ("request_rate", lambda v, n: v < 0.3 * n, 120.0),
}
"""Metric rules: the metric, the breach condition against its normal, the ``for`` duration."""
DOWN_FOR_S = 60.0
MEMORY_SHARE = 0.85
MEMORY_FOR_S = 60.0


@dataclass
class Episode:
    service: str
    key: str
    opened: float
    last_firing: float
    rules: set[str] = field(default_factory=set)
    closed: float | None = None


class StaticAlerts:
    """The rules above over one fleet's telemetry.

    Parameters
    ----------
    spec
        The fleet (each service's container memory limit).
    learn_until
        Values before this time set each series' normal (its median).
    close_after_s
        An episode closes once none of its service's rules has fired for this long.
    """

    def __init__(self, spec: FleetSpec, learn_until: float, close_after_s: float = 120.0) -> None:
        self.spec = spec
        self.learn_until = learn_until
        self.close_after_s = close_after_s
        self._learning: dict[tuple[str, str], list[float]] = {}
        self._normal: dict[tuple[str, str], float] = {}
        self._since: dict[tuple[str, str], float] = {}
        self._down: dict[str, tuple[str, float]] = {}
        self.changes: list[ChangeEvent] = []
        self.episodes: list[Episode] = []
        self._open: dict[str, Episode] = {}

    # -- input -----------------------------------------------------------------------------
    def observe(self, ev: Event) -> None:
        if isinstance(ev, MetricBatch):
            for p in ev.points:
                self._metric(ev.service, p.name, p.value, p.ts.timestamp())
        elif isinstance(ev, HealthCheck) and ev.instance:
            if ev.ok:
                self._down.pop(ev.instance, None)
            elif ev.instance not in self._down:
                self._down[ev.instance] = (ev.service, ev.ts.timestamp())
        elif isinstance(ev, ChangeEvent):
            self.changes.append(ev)

    def _metric(self, svc: str, name: str, value: float, t: float) -> None:
        key = (svc, name)
        if t < self.learn_until:
            self._learning.setdefault(key, []).append(value)
            return
        if key not in self._normal and key in self._learning:
            self._normal[key] = statistics.median(self._learning.pop(key))
        for rule, (metric, cond, _) in RULES.items():
            if metric == name and key in self._normal:
                self._mark((svc, rule), cond(value, self._normal[key]), t)
        if name == "memory_mb" and svc in self.spec.services:
            limit = self.spec.services[svc].memory_limit_mb
            self._mark((svc, "MemoryHigh"), value > MEMORY_SHARE * limit, t)

    def _mark(self, key: tuple[str, str], breached: bool, t: float) -> None:
        if breached:
            self._since.setdefault(key, t)
        else:
            self._since.pop(key, None)

    # -- output ----------------------------------------------------------------------------
    def firing(self, t: float) -> dict[str, set[str]]:
        """Each service's firing rules at ``t`` (and the episodes kept up to date)."""
        out: dict[str, set[str]] = {}
        for (svc, rule), since in self._since.items():
            need = MEMORY_FOR_S if rule == "MemoryHigh" else RULES[rule][2]
            if t - since >= need:
                out.setdefault(svc, set()).add(rule)
        for svc, since in self._down.values():
            if t - since >= DOWN_FOR_S:
                out.setdefault(svc, set()).add("InstanceDown")
        self._episodes(out, t)
        return out

    def down_instances(self, t: float, for_s: float) -> list[tuple[str, str]]:
        """``(service, instance)`` of the instances failing their health check for ``for_s``."""
        return [(svc, i) for i, (svc, since) in self._down.items() if t - since >= for_s]

    def _episodes(self, firing: dict[str, set[str]], t: float) -> None:
        for svc, rules in firing.items():
            ep = self._open.get(svc)
            if ep is None:
                ep = Episode(svc, f"alert-{svc}-{len(self.episodes) + 1}", t, t)
                self._open[svc] = ep
                self.episodes.append(ep)
            ep.last_firing = t
            ep.rules |= rules
        for svc, ep in list(self._open.items()):
            if svc not in firing and t - ep.last_firing >= self.close_after_s:
                ep.closed = t
                del self._open[svc]

    def open_episode(self, svc: str) -> Episode | None:
        return self._open.get(svc)

    def recent_deploy(self, svc: str, t: float, within_s: float) -> bool:
        return any(
            c.service == svc and str(c.change_type) == "deploy" and t - c.ts.timestamp() <= within_s
            for c in self.changes
        )

    def opened(self) -> list[Opened]:
        return [
            Opened(e.key, e.opened, (e.service,), e.closed, ", ".join(sorted(e.rules)))
            for e in self.episodes
        ]
