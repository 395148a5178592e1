"""Scoring a run against the fleet's ground truth: the same rules for every strategy.

**Faults.** Each fault that hurt (was symptomatic at some point) is one of:

* ``resolvable``: a verb fixes it and the policy lets automation apply one (autonomously or
  through an approval gate): the strategy should fix it;
* ``blocked``: a verb fixes it but the policy forbids automation to apply any (the tier-0
  database's restart): the right answer is to escalate;
* ``unfixable``: no verb fixes it (a novel fault): the right answer is to escalate;
* ``transient``: its cause ends by itself (``duration_s``): acting is optional, a wrong action
  still counts.

A fault is **resolved** by a strategy when it stops hurting for at least ``hold_s`` (or until
the end) after an action of that strategy with one of its fixing verbs on its root, and not
because the strategy's own undo brought it back. **Time to recover** runs from when it started
to hurt to then; **time to detect** to the first incident (or alert episode) it owns.

**Ownership.** An incident, action or page at ``t`` belongs to a fault whose window (from two
minutes before its onset or first symptom to five minutes after it stopped hurting) holds ``t``;
among several, the one whose root it names, then one whose root it depends on, then the latest.
Nothing owns it: a false alarm (an action on it is a wrong action).

**Actions.** An action is *correct* when its verb fixes its fault and it targets the fault's root;
every other action (undo, escalate and scale-downs excepted) is *wrong*. The *first* action on
each fault, and every unowned action, is a *first action*.

**Escalations** (a human paged by the strategy) are *warranted* when their fault is unfixable or
blocked, or was still hurting when the human was called.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from setpoint.causal import Topology
from setpoint.policy import Policy
from setpoint.policy.rules import Effect
from setpoint.sim.scenario import Scenario
from setpoint.suite.trace import FaultTruth, FleetAction, Opened, Page, Trace, callees
from setpoint.suite.violations import effect_of, violations

LEAD_S = 120.0
TAIL_S = 300.0
HOLD_S = 180.0
_PERMITTED = {Effect.AUTONOMOUS, Effect.APPROVAL}


@dataclass
class FaultOutcome:
    """How one fault went."""

    id: str
    fault_class: str
    root: str
    category: str
    ttd: float | None = None
    first_action: str = ""
    first_correct: bool | None = None
    resolved: bool = False
    ttr: float | None = None
    relapsed: bool = False
    escalated: bool = False
    note: str = ""
    """How it was resolved, or why not."""


@dataclass
class ScenarioScore:
    """One strategy on one scenario (one seed)."""

    scenario: str
    strategy: str
    seed: int
    held_out: bool = False
    tags: list[str] = field(default_factory=list)
    faults: list[FaultOutcome] = field(default_factory=list)
    incidents: int = 0
    duplicate_incidents: int = 0
    false_incidents: int = 0
    actions: int = 0
    wrong_actions: int = 0
    first_actions: int = 0
    wrong_first_actions: int = 0
    rollbacks: int = 0
    escalations: int = 0
    warranted_escalations: int = 0
    approvals: int = 0
    pages: int = 0
    quiet_s: float = 0.0
    violations: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    """Each wrong action, in words."""

    def of(self, category: str) -> list[FaultOutcome]:
        return [f for f in self.faults if f.category == category]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Owners:
    """Which fault an incident, an action or a page belongs to."""

    def __init__(self, faults: list[FaultTruth], scenario: Scenario, end: float) -> None:
        self.faults = faults
        self.end = end
        self.callees = callees(scenario.fleet)

    def window(self, f: FaultTruth) -> tuple[float, float]:
        last = self.end if math.isinf(f.last_hurt) else f.last_hurt
        return min(f.onset, f.first_hurt) - LEAD_S, (last if f.hurt else f.onset) + TAIL_S

    def owner(self, t: float, names: Iterable[str], verb: str = "") -> FaultTruth | None:
        """The fault something at ``t`` about ``names`` (an action: ``verb``) belongs to."""
        names = set(names)
        live = [f for f in self.faults if self.window(f)[0] <= t <= self.window(f)[1]]

        def rank(f: FaultTruth) -> tuple[int, int, float]:
            fits = 0 if verb in f.fixed_by else 1
            if f.root in names:
                return 0, fits, -f.onset
            if any(f.root in self.callees.get(n, ()) for n in names):
                return 1, fits, -f.onset
            return 2, fits, -f.onset

        return min(live, key=rank, default=None)

    def of_action(self, a: FleetAction) -> FaultTruth | None:
        return self.owner(a.t, [a.target], a.verb)


def score(trace: Trace, scenario: Scenario, policy: Policy, topology: Topology) -> ScenarioScore:
    """Score ``trace`` (a run of ``scenario``) against its ground truth."""
    owners = Owners(trace.faults, scenario, trace.end)
    s = ScenarioScore(trace.scenario, trace.strategy, trace.seed, trace.held_out, list(trace.tags))
    acts = [a for a in trace.actions if a.t >= trace.start and not _housekeeping(a)]
    s.rollbacks = sum(1 for a in acts if a.undo)
    remedial = [a for a in acts if not a.undo and a.verb != "escalate"]
    _actions(s, remedial, owners, trace.start)
    _incidents(s, [i for i in trace.incidents if i.t >= trace.start], owners)
    s.faults = [_fault(f, trace, owners, remedial, policy, topology) for f in trace.faults]
    needs_human = {o.id for o in s.faults if o.category in ("unfixable", "blocked")}
    _pages(s, [p for p in trace.pages if p.t >= trace.start], owners, trace, needs_human)
    s.quiet_s = _quiet(trace, owners)

    def fault_id(a: FleetAction) -> str | None:
        f = owners.of_action(a)
        return f.id if f else None

    s.violations = [
        f"+{v.t - trace.start:.0f}s {v}" for v in violations(trace, policy, topology, fault_id)
        if v.t >= trace.start
    ]  # fmt: skip
    return s


def _housekeeping(a: FleetAction) -> bool:
    """A scale-down (an autoscaler giving capacity back) is not a remediation."""
    if a.verb != "scale" or a.undo:
        return False
    want, delta = a.params.get("replicas"), a.params.get("delta")
    if want is None:
        return delta is not None and int(delta) < 0
    return int(want) < int(a.captured.get("replicas", 0))


def correct(a: FleetAction, f: FaultTruth | None) -> bool:
    return f is not None and a.target == f.root and a.verb in f.fixed_by


def _actions(s: ScenarioScore, acts: list[FleetAction], owners: Owners, start: float) -> None:
    firsts: set[str] = set()
    for a in sorted(acts, key=lambda a: a.t):
        f = owners.of_action(a)
        ok = correct(a, f)
        s.actions += 1
        first = f is None or f.id not in firsts
        if f is not None:
            firsts.add(f.id)
        s.first_actions += first
        if not ok:
            s.wrong_actions += 1
            s.wrong_first_actions += first
            what = f"for {f.fault_class} on {f.root}" if f else "with no fault"
            s.wrong.append(f"+{a.t - start:.0f}s {a.verb} on {a.target} {what}")


def _incidents(s: ScenarioScore, incidents: list[Opened], owners: Owners) -> None:
    seen: set[str] = set()
    for inc in sorted(incidents, key=lambda i: i.t):
        s.incidents += 1
        f = owners.owner(inc.t, inc.services)
        if f is None:
            s.false_incidents += 1
        elif f.id in seen:
            s.duplicate_incidents += 1
        else:
            seen.add(f.id)


def _pages(
    s: ScenarioScore, pages: list[Page], owners: Owners, trace: Trace, needs_human: set[str]
) -> None:
    s.pages = len(pages)
    s.approvals = sum(1 for p in pages if p.kind == "approval")
    services = {i.key: i.services for i in trace.incidents}
    for p in pages:
        if p.kind == "approval":
            continue
        s.escalations += 1
        f = owners.owner(p.t, services.get(p.incident, (p.service,)))
        s.warranted_escalations += f is not None and (f.id in needs_human or f.symptomatic_at(p.t))


def _fault(
    f: FaultTruth,
    trace: Trace,
    owners: Owners,
    acts: list[FleetAction],
    policy: Policy,
    topology: Topology,
) -> FaultOutcome:
    out = FaultOutcome(f.id, f.fault_class, f.root, _category(f, policy, topology))
    mine = [a for a in acts if (o := owners.of_action(a)) is not None and o.id == f.id]
    if mine:
        out.first_action = f"{mine[0].verb} on {mine[0].target}"
        out.first_correct = correct(mine[0], f)
    incs = sorted((i for i in trace.incidents if _owns(owners, f, i.t, i.services)),
                  key=lambda i: i.t)  # fmt: skip
    if incs:
        out.ttd = incs[0].t - f.first_hurt
    services = {i.key: i.services for i in trace.incidents}
    out.escalated = any(
        p.kind != "approval" and _owns(owners, f, p.t, services.get(p.incident, (p.service,)))
        for p in trace.pages
    )
    _resolution(out, f, trace, mine, incs)
    return out


def _owns(owners: Owners, f: FaultTruth, t: float, names: Iterable[str]) -> bool:
    o = owners.owner(t, names)
    return o is not None and o.id == f.id


def _category(f: FaultTruth, policy: Policy, topology: Topology) -> str:
    if not f.hurt:
        return "harmless"
    if not f.fixed_by:
        return "unfixable"
    if not any(
        effect_of(policy, topology, v, f.root, f.first_hurt) in _PERMITTED for v in f.fixed_by
    ):
        return "blocked"
    return "transient" if f.transient else "resolvable"


def _resolution(
    out: FaultOutcome, f: FaultTruth, trace: Trace, mine: list[FleetAction], incs: list[Opened]
) -> None:
    if not f.hurt:
        out.note = "never hurt"
        return
    rec = f.recovery(HOLD_S, trace.end)
    fixes = [a for a in mine if a.ok and correct(a, f) and (rec is None or a.t <= rec + 5.0)]
    undone = rec is not None and any(
        a.undo and a.target == f.root and a.t > rec for a in trace.actions
    ) and f.spans[-1][1] == math.inf  # fmt: skip
    out.relapsed = rec is not None and any(a > rec for a, _ in f.spans)
    if rec is not None and fixes and not undone:
        out.resolved = True
        out.ttr = rec - f.first_hurt
        by = fixes[-1]
        out.note = f"{by.verb} on {by.target}" + (
            f" (approved by {by.approved_by})" if by.approved_by and by.actor != "human" else ""
        )
        return
    out.note = _why_not(f, rec, mine, incs, undone, out.escalated)


def _why_not(
    f: FaultTruth,
    rec: float | None,
    mine: list[FleetAction],
    incs: list[Opened],
    undone: bool,
    escalated: bool,
) -> str:
    if rec is not None and not undone:
        return "recovered without a fix of this strategy"
    if undone:
        return "fixed, then undone by the strategy's own rollback"
    if not incs and not mine:
        return "not detected"
    if mine and not any(correct(a, f) for a in mine):
        return f"wrong action: {mine[0].verb} on {mine[0].target}"
    if mine:
        return "right action, not recovered by the end"
    label = incs[0].label if incs else ""
    return ("escalated" if escalated else "no action") + (f" ({label})" if label else "")


def _quiet(trace: Trace, owners: Owners) -> float:
    """Seconds of the scenario outside every fault's window."""
    spans = sorted(owners.window(f) for f in trace.faults)
    quiet, t = 0.0, trace.start
    for a, b in spans:
        if a > t:
            quiet += min(a, trace.end) - t
        t = max(t, b)
    return quiet + max(0.0, trace.end - t)
