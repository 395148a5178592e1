"""The decide stage's logic: from an incident's ranked hypotheses to one signed command at a time,
through the envelope; from verification outcomes to the next step (undo, next hypothesis, page);
and the trust each agent earns or loses along the way.
"""

from __future__ import annotations

from setpoint.clock import to_datetime
from setpoint.policy.approvals import timed_out
from setpoint.policy.cases import Case, Phase
from setpoint.policy.envelope import PolicyEnvelope, Proposal
from setpoint.policy.handover import HandOver
from setpoint.policy.issue import new_command, undo_command
from setpoint.policy.learning import Learner
from setpoint.policy.outputs import Decided, Outputs, escalation
from setpoint.policy.relapse import pairs, reopen_reason
from setpoint.policy.signing import SigningKey, sign
from setpoint.policy.standing import Standing
from setpoint.policy.trust import TrustBook, TrustEvent
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    AnyCommand,
    ApprovalDecision,
    ApprovalRequest,
    ControlEvent,
    DecisionOutcome,
    Hypothesis,
    Incident,
    IncidentStatus,
    PolicyDecision,
    TrustRecord,
    Verb,
    Verification,
    VerificationOutcome,
    new_id,
)
from setpoint.schemas.verbs import Reversibility, spec

__all__ = ["Decided", "Decider", "Outputs", "Phase"]

_AWAITING = (Phase.ACTING, Phase.VERIFYING)


class Decider(HandOver):
    """One action at a time per incident, each through the envelope, each signed.

    Parameters
    ----------
    envelope
        The policy envelope.
    key
        The key commands are signed with (Ed25519 private key, or an HMAC secret).
    agent
        This agent's identity (recorded, and what trust and revocation are scoped to).
    settle_s
        Event-time seconds an incident is left to gather evidence before acting on it, unless its
        confidence already reaches ``act_confidence`` (the first anomaly is rarely the root).
    page_after_s
        Event-time seconds a *novel* incident must stay open before a human is paged for it: a
        blip that recovers by itself (the diagnose stage closes it) never wakes anyone.
    trust
        The trust book (``None``: a fresh one with the policy's trust settings).
    min_confidence
        A diagnosis less sure than this is not acted on: like a novel one, it is paged after
        ``page_after_s`` unless it firms up meanwhile (a close race between candidates is a
        guess, and a wrong action costs more than a page).
    """

    def __init__(
        self,
        envelope: PolicyEnvelope,
        key: SigningKey,
        agent: str = "setpoint.decide",
        settle_s: float = 60.0,
        act_confidence: float = 0.8,
        page_after_s: float = 180.0,
        trust: TrustBook | None = None,
        min_confidence: float = 0.4,
    ) -> None:
        self.envelope = envelope
        self.key = key
        self.agent = agent
        self.settle_s = settle_s
        self.act_confidence = act_confidence
        self.page_after_s = page_after_s
        self.min_confidence = min_confidence
        self.standing = Standing()
        """What verified actions taught beyond their incident (see ``standing``)."""
        self.trust = trust if trust is not None else TrustBook(envelope.policy.file.trust)
        self.state = envelope.new_state()
        self.learner = Learner(self.trust, envelope)
        self._cases: dict[str, Case] = {}

    @property
    def epoch(self) -> int:
        return self.state.control.epoch

    # -- inputs ------------------------------------------------------------------------------
    def handle(self, value: object, now: float) -> Outputs:
        """Dispatch any input of the decide stage to its handler."""
        if isinstance(value, Incident):
            return self.on_incident(value, now)
        if isinstance(value, ActionResult):
            return self.on_result(value, now)
        if isinstance(value, Verification):
            return self.on_verification(value, now)
        if isinstance(value, ApprovalDecision):
            return self.on_approval(value, now)
        if isinstance(value, ControlEvent):
            self.on_control(value)
        if isinstance(value, TrustRecord):
            self.trust.load(value)
        return Outputs()

    def on_control(self, ev: ControlEvent) -> None:
        """A freeze stops new commands, a revocation an agent's; new commands carry the epoch."""
        self.state.control.apply(ev)

    def on_incident(self, inc: Incident, now: float) -> Outputs:
        case = self._cases.get(inc.incident_id)
        if case is None:
            case = self._cases[inc.incident_id] = Case(inc)
        case.incident = inc
        if case.settled is not None and case.phase == Phase.RESOLVED:
            self._reopen(case, now)
        if case.phase != Phase.IDLE:
            return Outputs()
        if inc.status == IncidentStatus.RECOVERED:
            case.phase = Phase.RESOLVED
            return Outputs()
        return self._consider(case, now)

    def _reopen(self, case: Case, now: float) -> None:
        """A fault that came back after a fix: act again (through the envelope, on the leading
        hypothesis only; past the attempts cap the envelope refuses and the case escalates)."""
        lim = self.envelope.policy.file.limits
        if case.settled is None:
            return
        cap = lim.max_attempts_per_incident
        why = reopen_reason(case.settled, case.incident, case.attempts, cap, lim.cooldown_s, now)
        if why is None:
            return
        top = case.incident.hypotheses[0]
        case.tried -= {(top.service, v) for v in top.actions}
        case.phase, case.only_top, case.settled = Phase.IDLE, True, None
        case.history.append(f"reopened: {why}")

    def _consider(self, case: Case, now: float) -> Outputs:
        inc = case.incident
        age = now - inc.opened_at.timestamp()
        unsure = inc.novel or inc.confidence < self.min_confidence
        if unsure and age < self.page_after_s:
            return Outputs()
        if age < self.settle_s and inc.confidence < self.act_confidence:
            return Outputs()
        case.tops = set(pairs(inc, case.tops))
        if inc.novel:
            return self._escalate(case, "novel", "no known fault class explains it", now)
        if unsure:
            why = f"confidence {inc.confidence:.2f} is under {self.min_confidence:g}: a guess"
            return self._escalate(case, "low_confidence", why, now)
        return self._next(case, now)

    def on_result(self, res: ActionResult, now: float) -> Outputs:
        out = Outputs(trust=self.learner.undone(res, now))
        case = self._cases.get(res.incident_id)
        if case is None or case.current is None or res.command_id != case.current.command_id:
            return out
        if res.status == ActionStatus.EXECUTED:
            case.phase = Phase.VERIFYING if case.phase == Phase.ACTING else case.phase
            return out
        if res.status == ActionStatus.DUPLICATE:
            return out  # the command was delivered twice; the first delivery is still in flight
        self.state.finished(res.action_id)
        if res.status == ActionStatus.UNDONE or case.phase == Phase.UNDOING:
            case.phase = Phase.IDLE
            case.history.append(f"undone: {res.reason or res.status}")
            out.extend(self._next(case, now))
            return out
        case.history.append(f"{res.verb} on {res.target}: {res.status} ({res.reason})")
        case.phase = Phase.IDLE
        out.extend(self._next(case, now))
        return out

    def on_verification(self, v: Verification, now: float) -> Outputs:
        case = self._cases.get(v.incident_id)
        current = case.current if case else None
        if case and current and (v.action_id != current.command_id or case.phase not in _AWAITING):
            return Outputs()  # a verdict delivered again, on an action this case has moved past
        out = Outputs(trust=self.learner.verified(v, now))
        if case is None or case.current is None:
            return out
        self.state.finished(v.action_id)
        cmd = case.current
        case.history.append(f"{cmd.verb} on {cmd.target}: {v.outcome}")
        if v.outcome == VerificationOutcome.RECOVERED:
            self.standing.recovered(cmd, now)
            case.settle(Phase.RESOLVED)
            return out
        if v.outcome == VerificationOutcome.NOT_RECOVERED:
            self.standing.rolled_back_in_vain(cmd.command_id, now)
        if v.outcome == VerificationOutcome.INCONCLUSIVE:
            step = self._escalate(case, "inconclusive", v.detail or "the signal is unclear", now)
        elif spec(cmd.verb).reversibility == Reversibility.INVERSE:
            step = self._undo(case, v.action_id, now)
        else:
            case.phase = Phase.IDLE
            step = self._next(case, now)
        out.extend(step)
        return out

    def on_approval(self, d: ApprovalDecision, now: float) -> Outputs:
        case = self._cases.get(d.incident_id)
        req = case.approval if case else None
        if case is None or req is None or req.approval_id != d.approval_id:
            return Outputs()
        if d.approver == req.requested_by:
            case.history.append(f"ignored a self-approval of {d.approval_id} by {d.approver}")
            return Outputs()
        case.approval = None
        cmd = req.command
        answer = TrustEvent.AGREED if d.approved else TrustEvent.DISAGREED
        out = Outputs(trust=self.learner.observe(answer, cmd, now))
        if not d.approved:
            out.extend(self._escalate(case, "approval_denied", f"denied by {d.approver}", now))
            return out
        approved = cmd.model_copy(update={"approved_by": d.approver})
        proposal = Proposal.of(approved, self.learner.mode(cmd, now))
        out.extend(self._act(case, approved, proposal, now))
        return out

    def tick(self, now: float) -> Outputs:
        """Time-driven transitions: settled incidents are acted on; unanswered approvals are
        denied by default and escalated."""
        out = Outputs()
        for case in self._cases.values():
            if case.phase == Phase.IDLE and case.incident.status != IncidentStatus.RECOVERED:
                out.extend(self._consider(case, now))
            req = case.approval
            if req is not None and now >= req.expires_at.timestamp():
                case.approval = None
                out.answers.append(timed_out(req, self.agent))
                out.extend(self._escalate(case, "approval_timeout", "no answer in time", now))
        return out

    # -- choosing ----------------------------------------------------------------------------
    def _candidates(self, case: Case, now: float) -> list[tuple[Hypothesis, str]]:
        # What verified actions taught stands for a while (see ``standing``).
        hyps = case.incident.hypotheses
        return [
            (h, verb)
            for h in (hyps[:1] if case.only_top else hyps)
            for verb in h.actions
            if (h.service, verb) not in case.tried
            and not self.standing.stands(h.service, verb, now)
        ]

    def _refuted(self, case: Case, now: float) -> str | None:
        """Why the leading hypothesis is a guess: rolling its change back did not help."""
        top = case.incident.hypotheses[0] if case.incident.hypotheses else None
        if top is None or not any(self.standing.refuted(top, v, now) for v in top.actions):
            return None
        return f"rolling back {top.change_id} on {top.service} was verified not to help"

    def _next(self, case: Case, now: float) -> Outputs:
        if (why := self._refuted(case, now)) is not None:
            return self._escalate(case, "refuted", why, now)
        out = Outputs()
        ttl = self.envelope.policy.file.limits.command_ttl_s
        for hyp, verb in self._candidates(case, now):
            case.tried.add((hyp.service, verb))
            if verb == Verb.ESCALATE:
                break
            replicas = self.envelope.inventory.services.get(hyp.service)
            cmd = new_command(case.incident, hyp, verb, self.agent, case.attempts + 1,
                              self.epoch, now, ttl, new_id("cmd"),
                              replicas.replicas if replicas else None)  # fmt: skip
            decision = self.envelope.evaluate(
                Proposal.of(cmd, self.learner.mode(cmd, now)), self.state, now
            )
            out.decisions.append(Decided(case.incident.incident_id, verb, hyp.service, decision))
            out.trust += self.learner.observe(TrustEvent.PROPOSED, cmd, now)
            cmd = _decided(cmd, decision)
            self.standing.issued(hyp, verb, cmd.command_id)
            step = self._apply_decision(case, cmd, decision, now)
            if step is not None:
                out.extend(step)
                return out
        reason = "; ".join(case.history[-3:]) or "no permitted action for any hypothesis"
        out.extend(self._escalate(case, "no_action", reason, now))
        return out

    def _apply_decision(
        self, case: Case, cmd: AnyCommand, decision: PolicyDecision, now: float
    ) -> Outputs | None:
        outcome = decision.outcome
        if outcome == DecisionOutcome.ALLOW:
            return self._emit(case, cmd, now)
        if outcome == DecisionOutcome.APPROVAL:
            return self._request_approval(case, cmd, now)
        if outcome in (DecisionOutcome.ADVISORY, DecisionOutcome.SHADOW):
            text = f"{outcome}: proposes {cmd.verb} on {cmd.target}; a human must act"
            return self._escalate(case, str(outcome), text, now)
        case.history.append(f"{cmd.verb} on {cmd.target} denied: {'; '.join(decision.reasons)}")
        return None

    # -- emitting ----------------------------------------------------------------------------
    def _emit(self, case: Case, cmd: AnyCommand, now: float) -> Outputs:
        signed = sign(cmd, self.key)
        case.current = signed
        case.attempts += 1
        case.last_action = now
        case.phase = Phase.ACTING
        self.state.started(self.envelope.action(Proposal.of(signed), signed.command_id, now))
        self.learner.issued(signed)
        return Outputs(commands=[signed])

    def _request_approval(self, case: Case, cmd: AnyCommand, now: float) -> Outputs:
        ttl = self.envelope.policy.file.limits.approval_timeout_s
        req = ApprovalRequest(
            approval_id=new_id("apr"),
            incident_id=case.incident.incident_id,
            command=cmd,
            requested_by=self.agent,
            ts=to_datetime(now),
            expires_at=to_datetime(now + ttl),
            summary=f"{cmd.verb} on {cmd.target} for: {case.incident.summary}",
        )
        case.approval = req
        case.phase = Phase.AWAITING_APPROVAL
        return Outputs(approvals=[req])

    def _act(self, case: Case, proposed: AnyCommand, p: Proposal, now: float) -> Outputs:
        decision = self.envelope.evaluate(p, self.state, now)
        out = Outputs(decisions=[Decided(p.incident_id, p.verb, p.target, decision)])
        ttl = self.envelope.policy.file.limits.command_ttl_s
        cmd = _decided(proposed, decision).model_copy(
            update={
                "issued_at": to_datetime(now),
                "expires_at": to_datetime(now + ttl),
                "epoch": self.epoch,
            }
        )
        if decision.outcome == DecisionOutcome.ALLOW:
            out.extend(self._emit(case, cmd, now))
        else:
            out.extend(self._escalate(case, "denied", "; ".join(decision.reasons), now))
        return out

    def _undo(self, case: Case, action_id: str, now: float) -> Outputs:
        inc = case.incident
        target = case.current.target if case.current else ""
        proposal = Proposal(Verb.UNDO, target, inc.domain, inc.incident_id, self.agent)
        decision = self.envelope.evaluate(proposal, self.state, now)
        ttl = self.envelope.policy.file.limits.command_ttl_s
        cmd = undo_command(inc, target, action_id, self.agent, decision, self.epoch, now, ttl,
                           new_id("cmd"))  # fmt: skip
        out = Outputs(decisions=[Decided(inc.incident_id, Verb.UNDO, target, decision)])
        signed = sign(cmd, self.key)
        case.current = signed
        case.phase = Phase.UNDOING
        out.commands.append(signed)
        return out

    def _escalate(self, case: Case, code: str, reason: str, now: float) -> Outputs:
        case.settle(Phase.ESCALATED)
        cmd = case.current.command_id if case.current else None
        return Outputs(
            escalations=[escalation(case.incident, code, reason, case.history, cmd, now)]
        )

    def domain_of(self, incident_id: str) -> str | None:
        case = self._cases.get(incident_id)
        return case.incident.domain if case else None

    def phase(self, incident_id: str) -> Phase | None:
        case = self._cases.get(incident_id)
        return case.phase if case else None


def _decided(cmd: AnyCommand, decision: PolicyDecision) -> AnyCommand:
    """``cmd`` carrying its decision and the instances of its target it touches."""
    return cmd.model_copy(
        update={"decision": decision, "instances": decision.footprint.get(cmd.target)}
    )
