"""A policy in words, its lint, and why it decides what it decides about one command.

``setpoint policy check`` prints :func:`describe` and :func:`lint`; ``setpoint policy explain``
prints :func:`explain`, which runs the envelope's own code (``PolicyEnvelope.verdict`` and
``Selector.mismatch``), so the explanation cannot drift from the decision.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from setpoint.clock import to_datetime
from setpoint.policy import caps as capwords
from setpoint.policy.envelope import PolicyEnvelope, Proposal
from setpoint.policy.inventory import Inventory
from setpoint.policy.model import Policy
from setpoint.policy.rules import Rule, Selector
from setpoint.policy.state import LiveState
from setpoint.schemas import PolicyDecision
from setpoint.schemas.verbs import Reversibility, spec

_GLOB = set("*?[")


def describe(policy: Policy) -> list[str]:
    """Each part of the policy as a sentence, in the order the envelope applies them."""
    f = policy.file
    lim = f.limits
    out = [
        f"policy {policy.path} (hash {policy.hash}, version {f.version})",
        f"when no rule matches: {f.default_effect} (an irreversible verb: deny)",
        "always: undo is allowed (the brake); an irreversible verb is never autonomous; a "
        "target missing from the topology is denied; a freeze or a revocation stops everything",
        f"global caps: {lim.max_actions_per_minute} actions per minute; {lim.max_concurrent} in "
        f"flight ({lim.max_concurrent_per_domain} per domain); blast radius at most "
        f"{lim.max_fleet_share:.0%} of the fleet per {lim.blast_window_s:g}s"
        + (f" and {lim.max_instances} instances" if lim.max_instances is not None else "")
        + f", {lim.max_service_share:.0%} of any service at once, counting callers "
        f"{lim.dependents_depth} level(s) up; {lim.cooldown_s:g}s cooldown per target; "
        f"{lim.max_attempts_per_incident} attempts per incident; approvals expire after "
        f"{lim.approval_timeout_s:g}s (then denied); commands after {lim.command_ttl_s:g}s",
        _trust_words(policy),
    ]
    out += [f"freeze {z.id}: {z.start.isoformat()} to {z.end.isoformat()}, {z.describe()} -> "
            f"at most {z.effect}" + (f" ({z.reason})" if z.reason else "")
            for z in f.freezes]  # fmt: skip
    out += [_rule_words(r) for r in f.rules]
    return out


def _trust_words(policy: Policy) -> str:
    t = policy.file.trust
    if not t.enabled:
        return "trust: off (rule effects apply as written)"
    a = t.autonomous
    return (
        f"trust per agent x verb x {t.scope}: new pairs start {t.initial_mode}; advisory after "
        f"{t.advisory.min_samples} proposals; autonomous after {a.min_samples} judged outcomes "
        f"with a Wilson lower bound >= {a.min_score:g} (held while >= {a.hold_score:g}); one "
        f"failure or rollback demotes at once; one promotion per {_days(t.min_dwell_s)} at most; "
        f"counts idle over {_days(t.idle_after_s)} halve every {_days(t.half_life_s)}; pinned "
        "rules are not lowered"
    )


def _days(s: float) -> str:
    return f"{s / 86400:g} day(s)" if s >= 86400 else f"{s:g}s"


def _rule_words(r: Rule) -> str:
    said = f"-> {r.effect}" + (" (pinned)" if r.pinned else "") if r.effect else "-> caps only"
    caps = f"; caps: {capwords.describe(r.caps)}" if r.caps else ""
    why = f" - {r.description}" if r.description else ""
    return f"rule {r.id}: {r.describe()} {said}{caps}{why}"


def lint(policy: Policy, inventory: Inventory) -> list[str]:
    """Warnings about rules that cannot fire, or do not do what they seem to."""
    out: list[str] = []
    rules = policy.file.rules
    for i, r in enumerate(rules):
        shadow = next((e for e in rules[:i] if e.effect and e.when is None and covers(e, r)), None)
        if r.effect and shadow is not None:
            out.append(f"rule {r.id} never decides: rule {shadow.id} above matches all it does")
        out += _unknown_names(r, inventory)
        irreversible = [v for v in r.verbs if v != "*" and _irreversible(v)]
        if r.effect == "autonomous" and irreversible:
            out.append(f"rule {r.id}: {irreversible} irreversible: they go to approval anyway")
    known = inventory.services
    out += [f"inventory names {n}, which the topology does not have"
            for n in policy.file.inventory if known and n not in known]  # fmt: skip
    return out


def _irreversible(verb: str) -> bool:
    return spec(verb).reversibility == Reversibility.IRREVERSIBLE


def _unknown_names(r: Rule, inventory: Inventory) -> list[str]:
    known = inventory.services
    if not known:
        return []
    names = [s for s in r.services if not _GLOB & set(s) and s not in known]
    tiers = [t for t in r.tiers or [] if all(i.tier != t for i in known.values())]
    out = [f"rule {r.id} names service(s) {names} the topology does not have"] if names else []
    return out + ([f"rule {r.id}: no service is in tier(s) {tiers}"] if tiers else [])


def covers(a: Selector, b: Selector) -> bool:
    """Whether every proposal ``b`` matches is matched by ``a`` too (conservative)."""
    return (
        _covers_names(a.verbs, b.verbs)
        and _covers_names(a.services, b.services)
        and _covers_names(a.agents, b.agents)
        and (a.tiers is None or (b.tiers is not None and set(b.tiers) <= set(a.tiers)))
        and (a.regions is None or (b.regions is not None and set(b.regions) <= set(a.regions)))
        and all(v == "*" or b.labels.get(k) == v for k, v in a.labels.items())
    )


def _covers_names(a: list[str], b: list[str]) -> bool:
    if "*" in a:
        return True
    return all(p in a or (not _GLOB & set(p) and any(fnmatch.fnmatchcase(p, q) for q in a))
               for p in b)  # fmt: skip


@dataclass
class Explanation:
    proposal: Proposal
    lines: list[str]
    decision: PolicyDecision


def explain(
    env: PolicyEnvelope, p: Proposal, now: float, state: LiveState | None = None
) -> Explanation:
    """Every rule's verdict on ``p`` at ``now`` (against an empty live state unless given)."""
    live = state if state is not None else env.new_state()
    this = env.action(p, "<proposed>", now)
    s = this.subject
    lines = [
        f"{p.verb} on {p.target} by {p.agent} at {to_datetime(now).isoformat()}",
        f"service: tier {s.tier}, regions {list(s.regions)}, labels {dict(s.labels)}",
        f"blast radius: {dict(this.footprint) or 'nothing'} (target and callers)",
    ]
    first = True
    for z in env.policy.file.freezes:
        why = "not active now" if not z.active(now) else z.mismatch(s, now)
        lines.append(f"  freeze {z.id}: " + (f"does not apply ({why})" if why else "APPLIES"))
    for r in env.policy.file.rules:
        why = r.mismatch(s, now)
        if why:
            lines.append(f"  rule {r.id}: no - {why}")
            continue
        role = []
        if r.effect and first:
            role.append(f"DECIDES: {r.effect}")
            first = False
        elif r.effect:
            role.append(f"matches, but an earlier rule decided (would say {r.effect})")
        if r.caps:
            role.append(f"its caps hold: {capwords.describe(r.caps)}")
        lines.append(f"  rule {r.id}: yes - " + "; ".join(role))
    d = env.evaluate(p, live, now)
    lines.append(f"  fired: {', '.join(d.rule_ids)}")
    lines += [f"  - {why}" for why in d.reasons]
    lines.append(f"outcome: {d.outcome} (policy {d.policy_hash})")
    return Explanation(p, lines, d)
