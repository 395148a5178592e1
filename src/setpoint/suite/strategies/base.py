"""The loop the baseline strategies run in: the scenario's fleet in event time, its telemetry handed
to a controller (reflexes, static rules, a modelled human), the controller's actions applied to
the fleet, the ground truth watched. Same fleet, same seed, same history as the ``setpoint`` run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from setpoint.schemas import Event
from setpoint.sim.scenario import Scenario
from setpoint.suite.trace import FaultTruth, FleetAction, Opened, Page, Trace, TruthWatcher


@dataclass(frozen=True)
class Act:
    """An action a controller takes on the fleet."""

    verb: str
    target: str
    params: dict[str, Any] = field(default_factory=dict)
    incident: str = ""
    actor: str = ""
    """Who acts (default: the strategy); the human baseline's fixes are the human's."""


@dataclass
class Tick:
    """What a controller does at one step."""

    acts: list[Act] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)


class Controller(Protocol):
    """A baseline strategy: sees the telemetry, acts on the fleet, pages humans."""

    name: str

    def observe(self, event: Event) -> None: ...

    def tick(self, t: float) -> Tick: ...

    def incidents(self) -> list[Opened]: ...


@dataclass(frozen=True)
class World:
    """What a controller may know besides the telemetry."""

    scenario: Scenario
    start: float
    """The scenario proper's start (alert thresholds are learned from the history before it)."""
    state: Callable[[str], dict[str, Any]]
    """The orchestrator's view of a service (replicas, versions): ``Fleet.state``."""
    truth: list[FaultTruth]
    """The ground truth, for the modelled human's expertise only (the human baseline says so)."""
    seed: int


def run_controller(
    scenario: Scenario,
    make: Callable[[World], Controller],
    seed: int,
    history_s: float,
    step_s: float = 5.0,
    tail_s: float = 0.0,
) -> Trace:
    """Run ``scenario`` under the controller ``make`` builds; the trace of what it did."""
    fleet = scenario.build(seed, history_s=history_s)
    truth = TruthWatcher(fleet)
    start = fleet.start + history_s
    end = start + scenario.duration_s + tail_s
    ctl = make(World(scenario, start, fleet.state, truth.faults, seed))
    trace = Trace(scenario.name, ctl.name, seed, start, end, faults=truth.faults)
    t = fleet.start
    while t < end:
        t = min(end, t + step_s)
        for ev in fleet.step(t):
            ctl.observe(ev)
        out = ctl.tick(t)
        for act in out.acts:
            res = fleet.apply(act.verb, act.target, act.params, t)
            trace.actions.append(
                FleetAction(
                    t=t, verb=act.verb, target=act.target, ok=res.ok, actor=act.actor or ctl.name,
                    params=act.params, delay=res.effect_delay_s, incident=act.incident,
                    approved_by=act.actor or None, detail=res.detail, captured=res.captured,
                )
            )  # fmt: skip
        trace.pages += out.pages
        truth.watch(t)
    trace.incidents = ctl.incidents()
    return trace
