"""The ``human`` baseline: no automation; every alert episode pages on-call, who fixes the fault
after a modelled delay.

The model (stated, so the comparison can be judged):

* paged by the static alerts (:mod:`~setpoint.suite.strategies.alerts`) at the start of every
  alert episode, false alarms included;
* **acknowledges** after a log-normal delay with a median of 5 minutes, then **diagnoses**: a
  median of 15 minutes when a change points at the cause (a bad deploy, an expired certificate
  or credential) or the symptom names it (a saturated service), 25 minutes otherwise (a poisoned
  cache, a region outage, a memory leak), log-normal with sigma 0.5 (the 15-30 minutes of
  dashboards, logs and deploy history of issue 4); draws are seeded per scenario, seed and
  fault, so runs repeat;
* is an **expert**: the diagnosis is always right (the modelled human reads the ground truth,
  which no automated strategy may), and the fix is the fault's first remedy on its root
  (policy does not bind a human: the tier-0 database gets its restart);
* while an alert it was paged for keeps firing, on-call keeps digging: each further fault behind
  it gets its own diagnosis delay, and a fault still hurting 5 minutes after its fix is looked
  at again;
* a fault nothing fixes (a novel one) is worked on by the human and counted as escalated;
  a page that matches no fault (a false alarm) costs the page and nothing else.
"""

from __future__ import annotations

import math
import random
import zlib

from setpoint.schemas import Event
from setpoint.suite.strategies.alerts import StaticAlerts
from setpoint.suite.strategies.base import Act, Tick, World
from setpoint.suite.trace import FaultTruth, Opened, Page, callees

NAME = "human"
ACK_MEDIAN_S = 300.0
QUICK_MEDIAN_S = 900.0
SLOW_MEDIAN_S = 1500.0
SIGMA = 0.5
RECHECK_S = 300.0
QUICK = {"bad_deploy", "expired_certificate", "expired_credential", "saturation"}


class Human:
    """An on-call engineer paged by static alerts."""

    name = NAME

    def __init__(self, world: World) -> None:
        self.world = world
        self.alerts = StaticAlerts(world.scenario.fleet, world.start)
        self._paged: set[str] = set()
        self._working: dict[str, float] = {}
        """Fault id -> when the fix is ready."""
        self._attempts: dict[str, int] = {}
        self._fixed: dict[str, float] = {}
        """Fault id -> when the human last fixed (or gave up on) it."""
        self._calls = callees(world.scenario.fleet)

    def observe(self, event: Event) -> None:
        self.alerts.observe(event)

    def tick(self, t: float) -> Tick:
        out = Tick()
        self.alerts.firing(t)
        if t < self.world.start:
            return out
        for ep in self.alerts.episodes:
            if ep.key not in self._paged:
                self._paged.add(ep.key)
                out.pages.append(Page(t, "page", ep.key, ", ".join(sorted(ep.rules)), ep.service))
            if ep.closed is not None:
                continue
            # While an alert it was paged for still fires, on-call keeps digging: the next
            # fault behind it gets a diagnosis of its own.
            fault = self._fault_behind(ep.service, t)
            if fault is not None and fault.id not in self._working and fault.id not in self._fixed:
                self._working[fault.id] = t + self._delay(fault)
        for fid, ready in list(self._working.items()):
            if t >= ready:
                del self._working[fid]
                act = self._fix(fid, t)
                self._fixed[fid] = t
                if act is not None:
                    out.acts.append(act)
        for fid, when in list(self._fixed.items()):
            if t - when >= RECHECK_S:  # the fix had time to land: look again if it still hurts
                del self._fixed[fid]
        return out

    def _fault_behind(self, service: str, t: float) -> FaultTruth | None:
        live = [f for f in self.world.truth if f.symptomatic_at(t) or f.onset <= t < f.onset + 60]
        mine = [f for f in live if f.root == service or f.root in self._calls.get(service, ())]
        return max(mine, key=lambda f: f.onset, default=None)

    def _delay(self, f: FaultTruth) -> float:
        n = self._attempts.get(f.id, 0)
        self._attempts[f.id] = n + 1
        seed = zlib.crc32(f"{self.world.scenario.name}/{self.world.seed}/{f.id}/{n}".encode())
        rng = random.Random(seed)
        median = QUICK_MEDIAN_S if f.fault_class in QUICK else SLOW_MEDIAN_S
        ack = ACK_MEDIAN_S * math.exp(rng.gauss(0.0, SIGMA))
        return ack + median * math.exp(rng.gauss(0.0, SIGMA))

    def _fix(self, fid: str, t: float) -> Act | None:
        f = next(f for f in self.world.truth if f.id == fid)
        if not f.fixed_by or not f.symptomatic_at(t):
            return None
        verb = f.fixed_by[0]
        params: dict[str, object] = {}
        if verb == "scale":
            st = self.world.state(f.root)
            params = {"replicas": min(int(st["max_replicas"]), 2 * int(st["replicas"]))}
        return Act(verb, f.root, params, f"human-{fid}", actor=NAME)

    def incidents(self) -> list[Opened]:
        return self.alerts.opened()


def make(world: World) -> Human:
    return Human(world)
