"""The ``reflex`` baseline: what Kubernetes-style primitives do on their own, and nothing else.

* **Liveness probe**: an instance whose health check failed three times in a row (30 s) is
  restarted, with a back-off per instance (1 min, doubling to 5 min) as a crash loop gets.
* **Horizontal autoscaler**: every 15 s, ``desired = ceil(replicas x cpu / 0.7)`` (no change
  within a 10 % tolerance), up at once (at most doubling), down only to the highest desired
  count of the last 5 minutes (the stabilisation window), between the declared replicas and the
  service's maximum.

It never rolls back, flushes, renews, rotates or shifts traffic. A human is paged by the static
alerts (:mod:`~setpoint.suite.strategies.alerts`) when an alert episode is still open
``page_after_s`` after it opened.
"""

from __future__ import annotations

import math
from collections import deque

from setpoint.schemas import Event, HealthCheck, MetricBatch
from setpoint.suite.strategies.alerts import StaticAlerts
from setpoint.suite.strategies.base import Act, Tick, World
from setpoint.suite.trace import Opened, Page

NAME = "reflex"
PROBE_FAILURES = 3
BACKOFF_S = (60.0, 120.0, 240.0, 300.0)
HPA_EVERY_S = 15.0
HPA_TARGET = 0.7
HPA_TOLERANCE = 0.1
HPA_DOWN_WINDOW_S = 300.0
PAGE_AFTER_S = 600.0


class Reflex:
    """Liveness restarts and CPU autoscaling over the fleet's telemetry."""

    name = NAME

    def __init__(self, world: World, page_after_s: float = PAGE_AFTER_S) -> None:
        self.world = world
        self.page_after_s = page_after_s
        self.alerts = StaticAlerts(world.scenario.fleet, world.start)
        self._fails: dict[str, int] = {}
        self._restarts: dict[str, tuple[int, float]] = {}
        self._due: list[tuple[str, str]] = []
        self._cpu: dict[str, float] = {}
        self._desired: dict[str, deque[tuple[float, int]]] = {}
        self._last_hpa = 0.0
        self._paged: set[str] = set()

    def observe(self, event: Event) -> None:
        self.alerts.observe(event)
        if isinstance(event, HealthCheck) and event.instance:
            n = 0 if event.ok else self._fails.get(event.instance, 0) + 1
            self._fails[event.instance] = n
            if n >= PROBE_FAILURES:
                self._due.append((event.service, event.instance))
        elif isinstance(event, MetricBatch):
            for p in event.points:
                if p.name == "cpu":
                    self._cpu[event.service] = p.value

    def tick(self, t: float) -> Tick:
        out = Tick()
        if t < self.world.start:  # the history: the fleet was healthy and left alone
            self._due.clear()
            self.alerts.firing(t)
            return out
        out.acts += self._liveness(t)
        if t - self._last_hpa >= HPA_EVERY_S:
            self._last_hpa = t
            out.acts += self._autoscale(t)
        self.alerts.firing(t)
        for ep in self.alerts.episodes:
            late = ep.closed is None and t - ep.opened >= self.page_after_s
            if late and ep.key not in self._paged:
                self._paged.add(ep.key)
                why = f"alert firing for {self.page_after_s:.0f}s: {', '.join(sorted(ep.rules))}"
                out.pages.append(Page(t, "page", ep.key, why, ep.service))
        return out

    def _liveness(self, t: float) -> list[Act]:
        acts = []
        for svc, inst in dict.fromkeys(self._due):
            n, last = self._restarts.get(inst, (0, -math.inf))
            if t - last < BACKOFF_S[min(n, len(BACKOFF_S) - 1)] and n:
                continue
            self._restarts[inst] = (n + 1, t)
            self._fails[inst] = 0
            acts.append(Act("restart", svc, {"instances": [inst]}, f"liveness-{inst}"))
        self._due.clear()
        return acts

    def _autoscale(self, t: float) -> list[Act]:
        acts = []
        for svc, cpu in self._cpu.items():
            st = self.world.state(svc)
            cur, declared = int(st["replicas"]), self.world.scenario.fleet.services[svc].replicas
            ratio = cpu / HPA_TARGET
            want = cur if abs(ratio - 1.0) <= HPA_TOLERANCE else math.ceil(cur * ratio)
            want = max(declared, min(int(st["max_replicas"]), 2 * cur, want))
            hist = self._desired.setdefault(svc, deque())
            hist.append((t, want))
            while hist and hist[0][0] < t - HPA_DOWN_WINDOW_S:
                hist.popleft()
            if want < cur:
                want = max(w for _, w in hist)
            if want != cur and "replicas" not in st.get("pending", []):
                acts.append(Act("scale", svc, {"replicas": want}, f"hpa-{svc}"))
        return acts

    def incidents(self) -> list[Opened]:
        return self.alerts.opened()


def make(world: World) -> Reflex:
    return Reflex(world)
