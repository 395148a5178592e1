"""What a strategy did to a scenario, in one neutral shape every strategy produces and the scorer
reads: the faults as the fleet's ground truth saw them, every action that reached the fleet, every
time a human was interrupted, and every incident (or alert episode) the strategy opened.

The ground truth is sampled from the fleet (``Fleet.ground_truth``) at every step of the run; the
strategy under test never reads it (the ``human`` baseline's modelled expert is the exception, and
says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from setpoint.sim.faults import Fault
from setpoint.sim.fleet import Fleet
from setpoint.sim.spec import FleetSpec


@dataclass
class FaultTruth:
    """One fault of the scenario and when it hurt (``spans``: symptomatic intervals)."""

    id: str
    fault: str
    root: str
    fault_class: str
    fixed_by: tuple[str, ...]
    onset: float
    ends: float | None = None
    """When its cause ends by itself (a fault with ``duration_s``); ``None``: never."""
    spans: list[list[float]] = field(default_factory=list)
    """``[start, end]`` of each symptomatic interval; the last one's end is ``inf`` while open."""

    @property
    def transient(self) -> bool:
        return self.ends is not None

    @property
    def hurt(self) -> bool:
        return bool(self.spans)

    @property
    def first_hurt(self) -> float:
        return self.spans[0][0] if self.spans else self.onset

    @property
    def last_hurt(self) -> float:
        return self.spans[-1][1] if self.spans else self.onset

    def symptomatic_at(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.spans)

    def recovery(self, hold_s: float, end: float) -> float | None:
        """When it first stopped hurting for at least ``hold_s`` (or until ``end``)."""
        for k, (_, b) in enumerate(self.spans):
            if math.isinf(b):
                return None
            nxt = self.spans[k + 1][0] if k + 1 < len(self.spans) else end
            if nxt - b >= hold_s or nxt >= end:
                return b
        return None


@dataclass(frozen=True)
class FleetAction:
    """One action that reached the fleet (an undo included), as the fleet applied it."""

    t: float
    verb: str
    target: str
    ok: bool
    actor: str
    """``setpoint``, ``reflex``, ``runbook`` or ``human``."""
    params: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    incident: str = ""
    """The strategy's own incident (or alert episode) it acted for."""
    approved_by: str | None = None
    undo: bool = False
    detail: str = ""
    captured: dict[str, Any] = field(default_factory=dict)
    """The state before it (the replicas before a scale, say), as the fleet answered."""


@dataclass(frozen=True)
class Page:
    """A human interrupted: an escalation, an approval request, or an alert paging on-call."""

    t: float
    kind: str
    incident: str = ""
    reason: str = ""
    service: str = ""


@dataclass
class Opened:
    """An incident (or, for the baselines, an alert episode) the strategy opened."""

    key: str
    t: float
    services: tuple[str, ...] = ()
    closed: float | None = None
    label: str = ""
    """The strategy's own account of it (Setpoint: its last diagnosis)."""
    outcome: str = ""


@dataclass
class Trace:
    """Everything the scorer needs about one run of one strategy on one scenario."""

    scenario: str
    strategy: str
    seed: int
    start: float
    """When the scenario proper begins (after the quiet history the detectors learn from)."""
    end: float
    faults: list[FaultTruth] = field(default_factory=list)
    actions: list[FleetAction] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    incidents: list[Opened] = field(default_factory=list)
    held_out: bool = False
    tags: tuple[str, ...] = ()


class TruthWatcher:
    """Samples the fleet's ground truth at each step and keeps each fault's symptomatic spans.

    Examples
    --------
    >>> from setpoint.sim.scenario import load_scenario
    >>> fleet = load_scenario("scenarios/bad-deploy.yaml").build(1)
    >>> w = TruthWatcher(fleet)
    >>> for k in range(1, 160):
    ...     _ = fleet.step(fleet.start + 5 * k); w.watch(fleet.start + 5 * k)
    >>> f = w.faults[0]
    >>> f.root, f.spans[0][0] - f.onset < 15, f.spans[0][1]
    ('checkout', True, inf)
    """

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.faults: list[FaultTruth] = []
        self._by_id: dict[str, FaultTruth] = {}
        for k, f in enumerate(fleet.timeline):
            if not isinstance(f, Fault):
                continue
            fid = f.id or f"{f.fault}-{k}"
            onset = fleet.start + f.at
            ends = onset + f.duration_s if f.duration_s is not None else None
            e = f.expect
            truth = FaultTruth(fid, str(f.fault), e.root, str(e.fault_class),
                               tuple(str(v) for v in e.fixed_by), onset, ends)  # fmt: skip
            self.faults.append(truth)
            self._by_id[fid] = truth

    def watch(self, t: float) -> None:
        for g in self.fleet.ground_truth():
            f = self._by_id.get(g["id"])
            if f is None:
                continue
            open_ = bool(f.spans) and math.isinf(f.spans[-1][1])
            if g["symptomatic"] and not open_:
                f.spans.append([t, math.inf])
            elif not g["symptomatic"] and open_:
                f.spans[-1][1] = t


def callees(spec: FleetSpec) -> dict[str, set[str]]:
    """Every service each service depends on, directly or not.

    Examples
    --------
    >>> spec = FleetSpec(services={"web": {"depends_on": ["api"]}, "api": {"depends_on": ["db"]},
    ...                            "db": {}})
    >>> sorted(callees(spec)["web"])
    ['api', 'db']
    """
    out: dict[str, set[str]] = {}

    def reach(name: str) -> set[str]:
        if name not in out:
            out[name] = set()
            for d in spec.services[name].depends_on:
                out[name] |= {d.service, *reach(d.service)}
        return out[name]

    for name in spec.services:
        reach(name)
    return out
