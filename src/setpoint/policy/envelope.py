"""The policy envelope: a proposal in, a decision out (a refusal is a value, never an exception).

The same ``PolicyEnvelope.evaluate`` runs in the decide stage and again in the actuator against
its own live state just before executing. In order:

1. the effect: the first matching rule with an effect, else ``default_effect`` (an irreversible
   verb no rule names is denied); ``undo`` is always allowed (it is the brake);
2. ceilings that only ever lower it: an irreversible verb is never autonomous; a target missing
   from the topology (its blast radius cannot be bounded) is denied; active change freezes; the
   agent's trust mode for this verb and scope, unless the rule is ``pinned``;
3. a human's approval turns ``approval`` into ``autonomous``;
4. hard stops for anything that may run: the kill switch, a revocation, and every cap (global
   limits, per-domain concurrency, and the caps of every matching rule), counting what is in
   flight with each action's blast footprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from setpoint.clock import to_datetime
from setpoint.policy import caps as capcheck
from setpoint.policy.inventory import Inventory, ServiceInfo
from setpoint.policy.model import Policy
from setpoint.policy.rules import Effect, Rule, Subject, strictest
from setpoint.policy.state import Action, LiveState
from setpoint.schemas import AnyCommand, DecisionOutcome, PolicyDecision, TrustMode, Verb
from setpoint.schemas.verbs import Reversibility, spec

_OUTCOME = {
    Effect.AUTONOMOUS: DecisionOutcome.ALLOW,
    Effect.APPROVAL: DecisionOutcome.APPROVAL,
    Effect.ADVISORY: DecisionOutcome.ADVISORY,
    Effect.SHADOW: DecisionOutcome.SHADOW,
    Effect.DENY: DecisionOutcome.DENY,
}
_TRUST_CEILING = {TrustMode.SHADOW: Effect.SHADOW, TrustMode.ADVISORY: Effect.APPROVAL,
                  TrustMode.AUTONOMOUS: Effect.AUTONOMOUS}  # fmt: skip
"""Trust mode -> the most it allows: advisory means a human approves each action."""


@dataclass(frozen=True)
class Proposal:
    """What an agent wants to do, before any policy."""

    verb: str
    target: str
    domain: str
    incident_id: str
    agent: str
    attempt: int = 1
    approved_by: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    instances: int = 0
    """Instances of the target the issuer says the action touches (the envelope takes the
    larger of this and its own count)."""
    trust_mode: TrustMode | None = None

    @classmethod
    def of(cls, cmd: AnyCommand, trust_mode: TrustMode | None = None) -> Proposal:
        """The proposal a command stands for."""
        return cls(
            str(cmd.verb), cmd.target, cmd.domain, cmd.incident_id, cmd.agent, cmd.attempt,
            cmd.approved_by, cmd.params.model_dump(mode="json"), cmd.instances or 0, trust_mode,
        )  # fmt: skip


@dataclass
class Verdict:
    """The effect as it is being decided, with every rule that moved it and why."""

    effect: Effect
    rule: Rule | None = None
    rule_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def set(self, effect: Effect, rule_id: str, reason: str) -> None:
        self.effect = effect
        self.rule_ids.append(rule_id)
        self.reasons.append(reason)


class PolicyEnvelope:
    """Evaluates proposals against a policy, the fleet's inventory and the live state.

    Examples
    --------
    >>> pol = Policy.from_text("rules: [{id: r, verbs: [restart], effect: autonomous}]")
    >>> env = PolicyEnvelope(pol)
    >>> p = Proposal("restart", "api", "default", "inc-1", "agent")
    >>> env.evaluate(p, LiveState(), now=0.0).outcome
    <DecisionOutcome.ALLOW: 'allow'>
    >>> env.evaluate(Proposal("scale", "api", "d", "inc-1", "agent"), LiveState(), 0.0).outcome
    <DecisionOutcome.ADVISORY: 'advisory'>
    """

    def __init__(
        self, policy: Policy, services: Mapping[str, ServiceInfo] | Inventory | None = None
    ) -> None:
        self.policy = policy
        self.services = services
        inv = services if isinstance(services, Inventory) else Inventory(services)
        self.inventory = inv.with_facts(policy.file.inventory)

    def new_state(self) -> LiveState:
        """An empty live state that keeps as much history as the policy's windows need."""
        f = self.policy.file
        windows = [60.0, f.limits.blast_window_s]
        windows += [r.caps.window_s for r in f.rules if r.caps is not None]
        return LiveState(keep_s=max(windows))

    def subject(self, p: Proposal) -> Subject:
        return self.inventory.subject(p.verb, p.target, p.agent)

    def action(self, p: Proposal, action_id: str, now: float) -> Action:
        """The action ``p`` becomes once started at ``now``, with its blast footprint."""
        depth = self.policy.file.limits.dependents_depth
        fp = self.inventory.footprint(p.verb, p.params, p.target, depth, p.instances)
        return Action(action_id, self.subject(p), p.domain, p.incident_id, now, fp)

    def evaluate(self, p: Proposal, state: LiveState, now: float) -> PolicyDecision:
        this = self.action(p, "<proposed>", now)
        v = self.verdict(p, state, this)
        return PolicyDecision(
            outcome=_OUTCOME[v.effect],
            policy_hash=self.policy.hash,
            rule_ids=v.rule_ids[:64],
            reasons=[r[:1000] for r in v.reasons[:64]],
            trust_mode=str(p.trust_mode or ""),
            footprint=dict(this.footprint),
            ts=to_datetime(now),
        )

    def verdict(self, p: Proposal, state: LiveState, this: Action) -> Verdict:
        """Every step of the decision on ``p`` (``setpoint policy explain`` prints it)."""
        if p.verb == Verb.UNDO:
            return Verdict(Effect.AUTONOMOUS, None, ["builtin.undo"],
                           ["undo is the brake: always allowed"])  # fmt: skip
        v = self._effect(this.subject, this.started)
        self._ceilings(v, p, this)
        if v.effect == Effect.APPROVAL and p.approved_by:
            v.set(Effect.AUTONOMOUS, "approval", f"approved by {p.approved_by}")
        if v.effect in (Effect.AUTONOMOUS, Effect.APPROVAL):
            self._hard_stops(v, p, state, this)
        return v

    def _effect(self, s: Subject, now: float) -> Verdict:
        f = self.policy.file
        rule = next((r for r in f.rules if r.effect and r.mismatch(s, now) is None), None)
        if rule is not None and rule.effect is not None:
            return Verdict(rule.effect, rule, [rule.id], [f"rule {rule.id}: {rule.effect}"])
        if spec(s.verb).reversibility == Reversibility.IRREVERSIBLE:
            why = f"no rule names it and {s.verb} is irreversible: deny"
            return Verdict(Effect.DENY, None, ["builtin.irreversible-default"], [why])
        return Verdict(f.default_effect, None, ["default"],
                       [f"no rule matched: {f.default_effect}"])  # fmt: skip

    def _ceilings(self, v: Verdict, p: Proposal, this: Action) -> None:
        s, now = this.subject, this.started
        if v.effect == Effect.AUTONOMOUS and (
            spec(s.verb).reversibility == Reversibility.IRREVERSIBLE
        ):
            why = f"{s.verb} is irreversible: never autonomous, a human must approve"
            v.set(Effect.APPROVAL, "builtin.irreversible", why)
        inv = self.inventory
        if inv.services and not inv.known(s.service) and v.effect != Effect.DENY:
            why = f"{s.service} is not in the topology: its blast radius cannot be bounded"
            v.set(Effect.DENY, "builtin.unknown-target", why)
        for fz in self.policy.file.freezes:
            if fz.active(now) and fz.mismatch(s, now) is None:
                lowered = strictest(v.effect, fz.effect)
                if lowered != v.effect:
                    why = f"change freeze {fz.id} until {fz.end.isoformat()}: {fz.reason}"
                    v.set(lowered, fz.id, why.rstrip(": "))
        self._trust(v, p)

    def _trust(self, v: Verdict, p: Proposal) -> None:
        if p.trust_mode is None or not self.policy.file.trust.enabled:
            return
        if v.rule is not None and v.rule.pinned:
            v.reasons.append(
                f"rule {v.rule.id} is pinned: trust ({p.trust_mode}) does not lower it"
            )
            return
        lowered = strictest(v.effect, _TRUST_CEILING[p.trust_mode])
        if lowered != v.effect:
            why = f"trust: {p.agent} is in {p.trust_mode} mode for {p.verb} on {p.target}"
            v.set(lowered, "trust", f"{why}: {lowered}")

    def _hard_stops(self, v: Verdict, p: Proposal, state: LiveState, this: Action) -> None:
        s = this.subject
        if state.frozen:
            v.set(Effect.DENY, "builtin.freeze", "a global freeze is in effect")
            return
        revoked = state.control.blocking(s.agent, s.verb, s.service, s.tier, None)
        if revoked:
            v.set(Effect.DENY, "builtin.revoked", revoked)
            return
        breach = self._caps(p, state, this)
        if breach:
            v.set(Effect.DENY, breach[0], breach[1])

    def _caps(self, p: Proposal, state: LiveState, this: Action) -> capcheck.Breach | None:
        lim = self.policy.file.limits
        state.expire(this.started, lim.in_flight_expiry_s)
        inv = self.inventory
        for caps, ids in lim.caps():
            b = capcheck.check(caps, this, p.attempt, state, inv)
            if b:
                return ids.get(b[0], f"limits.{b[0]}"), b[1]
        b = capcheck.per_domain(this, state, lim.max_concurrent_per_domain)
        if b:
            return f"limits.{b[0]}", b[1]
        for r in self.policy.file.rules:
            if r.caps is None or r.mismatch(this.subject, this.started) is not None:
                continue
            b = capcheck.check(r.caps, this, p.attempt, state, inv, _scope_of(r))
            if b:
                return f"{r.id}.caps.{b[0]}", f"rule {r.id}: {b[1]}"
        return None


def _scope_of(rule: Rule) -> capcheck.Scope:
    def scope(a: Action) -> bool:
        return rule.mismatch(a.subject) is None

    return scope
