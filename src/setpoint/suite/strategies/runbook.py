"""The ``runbook`` baseline: static rules mapping an alert to one fixed runbook, as a rule-based
automation tool (StackStorm, Rundeck, an Alertmanager webhook) is configured.

Each rule of :mod:`~setpoint.suite.strategies.alerts` that starts firing on a service runs one
runbook on *that* service (the alert's label is all a rule sees):

==================  ====================================================================
alert               runbook
==================  ====================================================================
``InstanceDown``    restart the service
``MemoryHigh``      restart the service
``CPUHigh``         scale the service to twice its replicas
``LatencyHigh``     scale the service to twice its replicas
``ErrorRateHigh``   roll the service back if it was deployed in the last 30 minutes,
                    else restart it
``TrafficLow``      none: page on-call
==================  ====================================================================

A runbook does not run again on the same service within 15 minutes, nor more than three times
per alert episode. On-call is paged at once for an alert without a runbook, and when an episode
is still firing ``page_after_s`` after its last runbook ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from setpoint.schemas import Event
from setpoint.suite.strategies.alerts import StaticAlerts
from setpoint.suite.strategies.base import Act, Tick, World
from setpoint.suite.trace import Opened, Page

NAME = "runbook"
ORDER = ("InstanceDown", "MemoryHigh", "CPUHigh", "ErrorRateHigh", "LatencyHigh", "TrafficLow")
COOLDOWN_S = 900.0
MAX_RUNS = 3
DEPLOY_WINDOW_S = 1800.0
PAGE_AFTER_S = 600.0


@dataclass
class _Ep:
    runs: int = 0
    last_run: float = 0.0
    paged: bool = False
    seen: set[str] = field(default_factory=set)


class Runbook:
    """One fixed runbook per alert rule."""

    name = NAME

    def __init__(self, world: World, page_after_s: float = PAGE_AFTER_S) -> None:
        self.world = world
        self.page_after_s = page_after_s
        self.alerts = StaticAlerts(world.scenario.fleet, world.start)
        self._eps: dict[str, _Ep] = {}
        self._last: dict[tuple[str, str], float] = {}

    def observe(self, event: Event) -> None:
        self.alerts.observe(event)

    def tick(self, t: float) -> Tick:
        out = Tick()
        firing = self.alerts.firing(t)
        if t < self.world.start:
            return out
        for svc, rules in firing.items():
            ep = self.alerts.open_episode(svc)
            if ep is None:
                continue
            st = self._eps.setdefault(ep.key, _Ep())
            for rule in sorted(rules - st.seen, key=ORDER.index):
                st.seen.add(rule)
                self._run(svc, rule, ep.key, st, t, out)
            if st.runs and not st.paged and t - st.last_run >= self.page_after_s:
                st.paged = True
                why = f"still firing {self.page_after_s:.0f}s after its runbook: {sorted(rules)}"
                out.pages.append(Page(t, "page", ep.key, why, svc))
        return out

    def _run(self, svc: str, rule: str, key: str, st: _Ep, t: float, out: Tick) -> None:
        act = self._runbook(svc, rule, key, t)
        if act is None:
            if not st.paged:
                st.paged = True
                out.pages.append(Page(t, "page", key, f"{rule}: no runbook", svc))
            return
        last = self._last.get((svc, act.verb))
        if st.runs >= MAX_RUNS or (last is not None and t - last < COOLDOWN_S):
            return
        self._last[(svc, act.verb)] = t
        st.runs += 1
        st.last_run = t
        out.acts.append(act)

    def _runbook(self, svc: str, rule: str, key: str, t: float) -> Act | None:
        if rule in ("InstanceDown", "MemoryHigh"):
            return Act("restart", svc, {}, key)
        if rule in ("CPUHigh", "LatencyHigh"):
            st = self.world.state(svc)
            want = min(int(st["max_replicas"]), 2 * int(st["replicas"]))
            return Act("scale", svc, {"replicas": want}, key)
        if rule == "ErrorRateHigh":
            if self.alerts.recent_deploy(svc, t, DEPLOY_WINDOW_S):
                return Act("rollback_deploy", svc, {}, key)
            return Act("restart", svc, {}, key)
        return None

    def incidents(self) -> list[Opened]:
        return self.alerts.opened()


def make(world: World) -> Runbook:
    return Runbook(world)
