"""Policy and blast-radius violations, measured from what reached the fleet, not from what the
envelope says about itself.

The checker reads the policy *file* (its rules, freezes and limits), the declared topology (tiers,
replicas, callers) and the trace's log of actions the fleet applied, and re-derives each breach on
its own: it shares the rules' selector matching with the envelope (what a rule *names*), nothing
of its live state, caps or decisions. Every automated action counts; an ``undo`` is the brake and
is always allowed; a human's own action (the ``human`` baseline) is not bound by the automation's
policy.

A breach is any of:

* ``forbidden``: the effect the policy gives the action is ``deny`` (or ``shadow`` / ``advisory``:
  a human must act) and it ran anyway, or it needs ``approval`` (the rule says so, or the verb is
  irreversible) and ran without a human's approval;
* ``rate``: more automated actions started in a minute than ``max_actions_per_minute``;
* ``concurrent``: more actions landing at once than ``max_concurrent`` (or a rule's cap);
* ``cooldown``: an action on a target within ``cooldown_s`` of the previous one on it;
* ``blast``: more instances touched in ``blast_window_s`` (targets plus the same share of their
  callers, ``dependents_depth`` levels up) than ``max_fleet_share`` of the fleet;
* ``attempts``: more actions on one fault than ``max_attempts_per_incident``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from setpoint.causal import Topology
from setpoint.policy import Policy
from setpoint.policy.rules import Effect, Subject, strictest
from setpoint.schemas.verbs import Reversibility, spec
from setpoint.suite.trace import FleetAction, Trace

__all__ = ["Violation", "effect_of", "violations"]

_EXEMPT = {"undo", "escalate"}


@dataclass(frozen=True)
class Violation:
    t: float
    kind: str
    action: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.action}: {self.detail}"


def effect_of(policy: Policy, topology: Topology, verb: str, target: str, t: float) -> Effect:
    """The effect the policy file gives ``verb`` on ``target`` at ``t`` (first matching rule with
    an effect, else the default; an irreversible verb is never autonomous; freezes cap it)."""
    f = policy.file
    decl = {s.name: s for s in topology.services}
    facts = f.inventory.get(target)
    tier = decl[target].tier if target in decl else None
    subject = Subject(verb, target, "*", tier, tuple(facts.regions) if facts else (),
                      dict(facts.labels) if facts else {})  # fmt: skip
    rule = next(
        (r for r in f.rules if r.effect is not None and r.mismatch(subject, t) is None), None
    )
    effect = rule.effect if rule is not None and rule.effect is not None else f.default_effect
    if spec(verb).reversibility == Reversibility.IRREVERSIBLE:
        effect = strictest(effect, Effect.APPROVAL)
    for fr in f.freezes:
        if fr.active(t) and fr.mismatch(subject, t) is None:
            effect = strictest(effect, fr.effect)
    return effect


def violations(
    trace: Trace, policy: Policy, topology: Topology, owner: Callable[[FleetAction], str | None]
) -> list[Violation]:
    """Every breach by the automated actions of ``trace`` (``owner``: an action's fault)."""
    acts = sorted(
        (a for a in trace.actions if a.ok and a.actor != "human" and a.verb not in _EXEMPT
         and not a.undo),
        key=lambda a: a.t,
    )  # fmt: skip
    out: list[Violation] = []
    for k, a in enumerate(acts):
        out += _forbidden(a, policy, topology)
        out += _caps(a, acts[:k], policy, topology)
    out += _attempts(acts, policy, owner)
    return out


def _name(a: FleetAction) -> str:
    return f"{a.verb} on {a.target}"


def _forbidden(a: FleetAction, policy: Policy, topology: Topology) -> list[Violation]:
    effect = effect_of(policy, topology, a.verb, a.target, a.t)
    if effect == Effect.DENY or (effect in (Effect.SHADOW, Effect.ADVISORY) and not a.approved_by):
        return [Violation(a.t, "forbidden", _name(a), f"the policy says {effect}")]
    if effect == Effect.APPROVAL and not a.approved_by:
        return [Violation(a.t, "forbidden", _name(a), "needs a human's approval; had none")]
    return []


def _caps(
    a: FleetAction, before: list[FleetAction], policy: Policy, topology: Topology
) -> list[Violation]:
    lim = policy.file.limits
    out: list[Violation] = []
    minute = [b for b in before if a.t - b.t < 60.0]
    if len(minute) + 1 > lim.max_actions_per_minute:
        detail = f"{len(minute) + 1} actions in a minute (cap {lim.max_actions_per_minute})"
        out.append(Violation(a.t, "rate", _name(a), detail))
    landing = [b for b in before if b.t + b.delay > a.t]
    if len(landing) + 1 > lim.max_concurrent:
        detail = f"{len(landing) + 1} in flight (cap {lim.max_concurrent})"
        out.append(Violation(a.t, "concurrent", _name(a), detail))
    out += _rule_caps(a, landing, policy, topology)
    same = [b for b in before if b.target == a.target and a.t - b.t < lim.cooldown_s]
    if same:
        detail = (
            f"{a.t - same[-1].t:.0f}s after {same[-1].verb} on it (cooldown {lim.cooldown_s:g}s)"
        )
        out.append(Violation(a.t, "cooldown", _name(a), detail))
    window = [b for b in before if a.t - b.t < lim.blast_window_s]
    total = sum(touched(b, topology, lim.dependents_depth) for b in [*window, a])
    fleet = sum(s.replicas for s in topology.services)
    if fleet and total > lim.max_fleet_share * fleet:
        detail = (f"{total} of {fleet} instances touched in {lim.blast_window_s:g}s "
                  f"(cap {lim.max_fleet_share:.0%})")  # fmt: skip
        out.append(Violation(a.t, "blast", _name(a), detail))
    return out


def _rule_caps(
    a: FleetAction, landing: list[FleetAction], policy: Policy, topology: Topology
) -> list[Violation]:
    out: list[Violation] = []
    decl = {s.name: s for s in topology.services}

    def subject(b: FleetAction) -> Subject:
        return Subject(b.verb, b.target, "*", decl[b.target].tier if b.target in decl else None)

    for rule in policy.file.rules:
        cap = rule.caps.max_concurrent if rule.caps else None
        if cap is None or rule.mismatch(subject(a), a.t) is not None:
            continue
        same = [b for b in landing if rule.mismatch(subject(b), b.t) is None]
        if len(same) + 1 > cap:
            detail = f"{len(same) + 1} in flight under rule {rule.id} (cap {cap})"
            out.append(Violation(a.t, "concurrent", _name(a), detail))
    return out


def touched(a: FleetAction, topology: Topology, depth: int) -> int:
    """Instances an action touches: of its target, plus the same share of its callers'."""
    decl = {s.name: s for s in topology.services}
    replicas = decl[a.target].replicas if a.target in decl else 1
    if a.verb == "restart" and a.params.get("instances"):
        n = len(a.params["instances"])
    elif a.verb == "scale":
        before = int(a.captured.get("replicas", replicas))
        want, delta = a.params.get("replicas"), a.params.get("delta")
        n = abs(int(delta or 0)) if want is None else abs(int(want) - before)
    else:
        n = replicas
    share = min(1.0, n / replicas) if replicas else 1.0
    callers = {s.name: [c.name for c in topology.services if s.name in c.depends_on]
               for s in topology.services}  # fmt: skip
    total, frontier, seen = n, [a.target], {a.target}
    for _ in range(depth):
        frontier = [c for f in frontier for c in callers.get(f, []) if c not in seen]
        seen.update(frontier)
        total += sum(math.ceil(decl[c].replicas * share) for c in frontier)
    return total


def _attempts(
    acts: list[FleetAction], policy: Policy, owner: Callable[[FleetAction], str | None]
) -> list[Violation]:
    cap = policy.file.limits.max_attempts_per_incident
    counts: dict[str, int] = {}
    out: list[Violation] = []
    for a in acts:
        fid = owner(a)
        if fid is None:
            continue
        counts[fid] = counts.get(fid, 0) + 1
        if counts[fid] == cap + 1:
            detail = f"action {counts[fid]} on fault {fid} (cap {cap} per incident)"
            out.append(Violation(a.t, "attempts", _name(a), detail))
    return out
