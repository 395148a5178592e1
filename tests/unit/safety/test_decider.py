"""The decide stage with trust, revocation and the approval gate's default denial."""

from __future__ import annotations

from setpoint.policy import Decider, Phase, Policy, PolicyEnvelope
from setpoint.policy.approvals import TIMEOUT_COMMENT
from setpoint.schemas import (
    ActionResult,
    ApprovalDecision,
    ControlEvent,
    DecisionOutcome,
    TrustMode,
    Verification,
)
from tests.unit.conftest import hypothesis, incident, ts
from tests.unit.safety.conftest import SHOP

RULES = """
rules:
  - {id: scale-earned, verbs: [scale], effect: autonomous}
  - {id: rotate-gate, verbs: [rotate_credential], effect: approval, pinned: true}
"""


def decider(text: str = RULES, initial: str = "shadow", key: bytes = b"k") -> Decider:
    policy = Policy.from_text(text + f"trust: {{initial_mode: {initial}, min_dwell_s: 0}}\n")
    return Decider(PolicyEnvelope(policy, SHOP), key, agent="bot", settle_s=0)


def saturation(iid: str = "inc-1", svc: str = "catalog") -> object:
    return incident([hypothesis(svc, "saturation", ["scale"])], iid=iid)


def result(cmd, status: str, **kw: object) -> ActionResult:  # type: ignore[no-untyped-def]
    return ActionResult(action_id=cmd.command_id, command_id=cmd.command_id,
                        incident_id=cmd.incident_id, verb=str(cmd.verb), target=cmd.target,
                        status=status, started_at=ts(0), finished_at=ts(0), **kw)  # fmt: skip


def verification(cmd, outcome: str) -> Verification:  # type: ignore[no-untyped-def]
    return Verification(verification_id="v", action_id=cmd.command_id,
                        incident_id=cmd.incident_id, target=cmd.target, verb=str(cmd.verb),
                        outcome=outcome, started_at=ts(0), ts=ts(0), window_s=60)  # fmt: skip


def test_a_new_pair_in_shadow_proposes_records_and_pages_but_does_not_act() -> None:
    dec = decider()
    out = dec.on_incident(saturation(), 1000.0)
    assert not out.commands and not out.approvals
    assert out.decisions[0].decision.outcome == DecisionOutcome.SHADOW
    assert out.escalations[0].reason_code == "shadow"
    rec, changed = out.trust[0]
    assert (rec.agent, rec.verb, rec.scope, rec.proposals) == ("bot", "scale", "service:catalog", 1)
    assert not changed


def test_advisory_asks_a_human_whose_answer_and_the_outcome_build_the_record() -> None:
    dec = decider(initial="advisory")
    out = dec.on_incident(saturation(), 1000.0)
    req = out.approvals[0]
    assert req.command.decision.trust_mode == "advisory"
    ok = ApprovalDecision(approval_id=req.approval_id, incident_id="inc-1", approved=True,
                          approver="alice", ts=ts(1010))  # fmt: skip
    out = dec.on_approval(ok, 1010.0)
    cmd = out.commands[0]
    assert cmd.approved_by == "alice" and out.trust[0][0].agreed == 1
    out = dec.on_verification(verification(cmd, "recovered"), 1300.0)
    assert out.trust[0][0].succeeded == 1 and dec.phase("inc-1") == Phase.RESOLVED


def test_a_failed_verification_demotes_and_the_rollback_that_follows_does_not_again() -> None:
    dec = decider(initial="autonomous")
    cmd = dec.on_incident(saturation(), 1000.0).commands[0]
    assert cmd.params.delta == 4, "a scale-out doubles the 4 declared replicas"
    assert cmd.instances == 4 and cmd.decision.footprint == {"catalog": 4, "frontend": 4}
    dec.on_result(result(cmd, "executed"), 1001.0)
    out = dec.on_verification(verification(cmd, "not_recovered"), 1400.0)
    rec, changed = out.trust[0]
    assert changed and rec.mode == TrustMode.ADVISORY and rec.failed == 1
    undo = out.commands[0]
    out = dec.on_result(result(undo, "undone", undoes=cmd.command_id), 1401.0)
    rec, changed = out.trust[0]
    assert rec.rolled_back == 1 and rec.mode == TrustMode.ADVISORY and not changed
    assert dec.trust.mode("bot", "scale", "service:catalog", 1402.0) == TrustMode.ADVISORY


def test_a_self_approval_is_ignored() -> None:
    dec = decider(initial="advisory")
    req = dec.on_incident(saturation(), 1000.0).approvals[0]
    mine = ApprovalDecision(approval_id=req.approval_id, incident_id="inc-1", approved=True,
                            approver="bot", ts=ts(1001))  # fmt: skip
    assert not dec.on_approval(mine, 1001.0).commands
    assert dec.phase("inc-1") == Phase.AWAITING_APPROVAL


def test_an_unanswered_request_is_denied_by_default_with_an_answer_everyone_sees() -> None:
    dec = decider()
    inc = incident([hypothesis("payments", "expired_credential", ["rotate_credential"])])
    req = dec.on_incident(inc, 1000.0).approvals[0]
    out = dec.tick(1000.0 + 901.0)
    assert out.answers[0].approval_id == req.approval_id and not out.answers[0].approved
    assert out.answers[0].comment == TIMEOUT_COMMENT
    assert out.escalations[0].reason_code == "approval_timeout"


def test_a_revoked_agent_issues_nothing_and_says_why() -> None:
    dec = decider(initial="autonomous")
    dec.on_control(ControlEvent(control_id="c", action="revoke", epoch=4, ts=ts(0), agent="bot"))
    out = dec.on_incident(saturation(), 1000.0)
    assert not out.commands and out.decisions[0].decision.rule_ids[-1] == "builtin.revoked"
    assert out.escalations and dec.epoch == 4


def test_trust_survives_a_restart_through_the_records_it_publishes() -> None:
    dec = decider(initial="advisory")
    published = [rec for rec, _ in dec.on_incident(saturation(), 1000.0).trust]
    restarted = decider(initial="advisory")
    assert not restarted.trust.records
    for rec in published:
        restarted.handle(rec, 0.0)
    assert restarted.trust.record("bot", "scale", "service:catalog", 1001.0).proposals == 1
