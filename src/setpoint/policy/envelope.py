"""The policy envelope: a proposal in, a decision out (a refusal is a value, never an exception).

The same ``PolicyEnvelope.evaluate`` runs in the decide stage and again in the actuator against
its own live state just before executing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from setpoint.clock import to_datetime
from setpoint.policy.model import Effect, Policy, Rule
from setpoint.schemas import DecisionOutcome, PolicyDecision, Verb
from setpoint.schemas.verbs import Reversibility, spec

_OUTCOME = {
    Effect.AUTONOMOUS: DecisionOutcome.ALLOW,
    Effect.APPROVAL: DecisionOutcome.APPROVAL,
    Effect.ADVISORY: DecisionOutcome.ADVISORY,
    Effect.SHADOW: DecisionOutcome.SHADOW,
    Effect.DENY: DecisionOutcome.DENY,
}


@dataclass(frozen=True)
class ServiceInfo:
    tier: int | None = None
    replicas: int | None = None


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


@dataclass
class LiveState:
    """What is really in flight, as the evaluating stage knows it (event time)."""

    in_flight: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """action id -> (verb, target, domain)."""
    recent: deque[float] = field(default_factory=deque)
    """Start times of recent actions (for the per-minute cap)."""
    last_action: dict[str, tuple[float, str, str]] = field(default_factory=dict)
    """target -> (start time, incident id, verb) of its last action (for the cooldown)."""
    frozen: bool = False

    def started(
        self, action_id: str, verb: str, target: str, domain: str, incident_id: str, t: float
    ) -> None:
        self.in_flight[action_id] = (verb, target, domain)
        self.recent.append(t)
        self.last_action[target] = (t, incident_id, verb)

    def finished(self, action_id: str) -> None:
        self.in_flight.pop(action_id, None)


class PolicyEnvelope:
    """Evaluates proposals against a policy and the live state.

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

    def __init__(self, policy: Policy, services: Mapping[str, ServiceInfo] | None = None) -> None:
        self.policy = policy
        self.services = dict(services or {})

    def evaluate(self, p: Proposal, state: LiveState, now: float) -> PolicyDecision:
        rule = self._rule(p)
        effect = rule.effect if rule else self.policy.file.default_effect
        rules = [rule.id] if rule else ["default"]
        reasons = [f"rule {rule.id}: {effect}" if rule else f"no rule matched: {effect}"]
        if p.verb == Verb.UNDO:
            effect, reasons = Effect.AUTONOMOUS, ["undo is the brake: always allowed"]
            rules = ["builtin.undo"]
        elif (
            effect == Effect.AUTONOMOUS and spec(p.verb).reversibility == Reversibility.IRREVERSIBLE
        ):
            effect = Effect.APPROVAL
            rules.append("builtin.irreversible")
            reasons.append(f"{p.verb} is irreversible: never autonomous, a human must approve")
        if effect == Effect.APPROVAL and p.approved_by:
            effect = Effect.AUTONOMOUS
            reasons.append(f"approved by {p.approved_by}")
        if effect in (Effect.AUTONOMOUS, Effect.APPROVAL) and p.verb != Verb.UNDO:
            cap = self._caps(p, state, now)
            if cap:
                rules.append(cap[0])
                reasons.append(cap[1])
                effect = Effect.DENY
        return PolicyDecision(
            outcome=_OUTCOME[effect],
            policy_hash=self.policy.hash,
            rule_ids=rules,
            reasons=reasons,
            ts=to_datetime(now),
        )

    def _rule(self, p: Proposal) -> Rule | None:
        tier = self.services.get(p.target, ServiceInfo()).tier
        return next((r for r in self.policy.file.rules if r.matches(p.verb, p.target, tier)), None)

    def _caps(self, p: Proposal, state: LiveState, now: float) -> tuple[str, str] | None:
        lim = self.policy.file.limits
        if state.frozen:
            return "builtin.freeze", "a global freeze is in effect"
        if p.attempt > lim.max_attempts_per_incident:
            return "limits.max_attempts", (
                f"attempt {p.attempt} exceeds {lim.max_attempts_per_incident} per incident"
            )
        while state.recent and state.recent[0] < now - 60.0:
            state.recent.popleft()
        if len(state.recent) >= lim.max_actions_per_minute:
            n = len(state.recent)
            return (
                "limits.rate",
                f"{n} actions in the last minute (cap {lim.max_actions_per_minute})",
            )
        in_domain = sum(1 for _, _, d in state.in_flight.values() if d == p.domain)
        if in_domain >= lim.max_concurrent_per_domain:
            cap = lim.max_concurrent_per_domain
            return "limits.concurrency", f"{in_domain} in flight in {p.domain} (cap {cap})"
        return self._cooldown(p, state, now)

    def _cooldown(self, p: Proposal, state: LiveState, now: float) -> tuple[str, str] | None:
        # The next step of the same incident (after an undo) is not a flap; a repeat of the same
        # verb, or another incident's action on the same target, is.
        last = state.last_action.get(p.target)
        if last is None:
            return None
        t, incident, verb = last
        same_step = incident == p.incident_id and verb != p.verb
        wait = self.policy.file.limits.cooldown_s
        if same_step or now - t >= wait:
            return None
        return (
            "limits.cooldown",
            f"{p.target} was acted on {now - t:.0f}s ago (cooldown {wait:.0f}s)",
        )
