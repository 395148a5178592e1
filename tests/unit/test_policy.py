"""The envelope and the decide stage: refusals are values, caps hold, one action at a time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.errors import PolicyFileError
from setpoint.policy import (
    Action,
    Decider,
    LiveState,
    Phase,
    Policy,
    PolicyEnvelope,
    Proposal,
    Subject,
)
from setpoint.policy.signing import verify
from setpoint.schemas import (
    ActionResult,
    ApprovalDecision,
    ControlEvent,
    DecisionOutcome,
    Verification,
)
from tests.unit.conftest import hypothesis, incident, ts

POLICY = """
default_effect: advisory
limits: {max_actions_per_minute: 2, max_concurrent_per_domain: 1, cooldown_s: 300,
         max_attempts_per_incident: 3, approval_timeout_s: 600}
trust: {enabled: false}
rules:
  - id: no-db-restart
    verbs: [restart]
    services: ["db*"]
    effect: deny
  - id: routine
    verbs: [restart, rollback_deploy, scale, rotate_credential]
    effect: autonomous
"""


def envelope() -> PolicyEnvelope:
    return PolicyEnvelope(Policy.from_text(POLICY, "policy.yaml"))


def test_policy_file_errors_name_the_line_and_field() -> None:
    bad = "rules:\n  - id: r1\n    verbs: [restart]\n    effect: sometimes\n"
    with pytest.raises(PolicyFileError) as err:
        Policy.from_text(bad, "p.yaml")
    assert err.value.line == 4 and err.value.field == "rules.0.effect"
    assert "p.yaml:4" in str(err.value)


def test_unknown_verb_in_policy_is_refused() -> None:
    with pytest.raises(PolicyFileError, match="unknown verb"):
        Policy.from_text("rules:\n  - id: r\n    verbs: [reboot]\n    effect: deny\n")


def started(state: LiveState, aid: str, verb: str, target: str, domain: str, t: float) -> None:
    state.started(Action(aid, Subject(verb, target), domain, f"inc-{aid}", t, {target: 1}))


def test_first_matching_rule_decides_and_default_is_advisory() -> None:
    env = envelope()
    deny = env.evaluate(Proposal("restart", "db-main", "d", "i", "a"), LiveState(), 0.0)
    assert deny.outcome == DecisionOutcome.DENY and deny.rule_ids == ["no-db-restart"]
    ok = env.evaluate(Proposal("restart", "api", "d", "i", "a"), LiveState(), 0.0)
    assert ok.outcome == DecisionOutcome.ALLOW and ok.policy_hash == env.policy.hash
    other = env.evaluate(Proposal("flush_cache", "api", "d", "i", "a"), LiveState(), 0.0)
    assert other.outcome == DecisionOutcome.ADVISORY and other.rule_ids == ["default"]


def test_irreversible_verb_is_never_autonomous_whatever_the_policy() -> None:
    d = envelope().evaluate(Proposal("rotate_credential", "api", "d", "i", "a"), LiveState(), 0.0)
    assert d.outcome == DecisionOutcome.APPROVAL and "builtin.irreversible" in d.rule_ids


def test_caps_deny_rate_concurrency_cooldown_and_freeze() -> None:
    env, state = envelope(), LiveState()
    started(state, "x1", "restart", "api", "d", 0.0)
    conc = env.evaluate(Proposal("scale", "web", "d", "i", "a"), state, 1.0)
    assert conc.outcome == DecisionOutcome.DENY
    assert conc.rule_ids[-1] == "limits.max_concurrent_per_domain"
    state.finished("x1")
    cool = env.evaluate(Proposal("restart", "api", "d", "i", "a"), state, 10.0)
    assert cool.rule_ids[-1] == "limits.cooldown_s"
    started(state, "x2", "scale", "web", "d", 2.0)
    state.finished("x2")
    rate = env.evaluate(Proposal("scale", "cart", "d", "i", "a"), state, 5.0)
    assert rate.rule_ids[-1] == "limits.max_actions_per_minute"
    state.control.apply(ControlEvent(control_id="f", action="freeze", epoch=1, ts=ts(0)))
    frz = env.evaluate(Proposal("scale", "cart", "d", "i", "a"), state, 500.0)
    assert frz.rule_ids[-1] == "builtin.freeze"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["x", "y"]),
            st.floats(0, 5),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_actions_in_flight_never_exceed_the_caps(steps: list[tuple[str, str, float, bool]]) -> None:
    env, state, now = envelope(), LiveState(), 0.0
    for i, (target, domain, dt, finish) in enumerate(steps):
        now += dt
        p = Proposal("scale", target, domain, f"inc-{i}", "a", params={"delta": 1})
        if env.evaluate(p, state, now).outcome == DecisionOutcome.ALLOW:
            state.started(env.action(p, f"act-{i}", now))
        per_domain = [a for a in state.in_flight.values() if a.domain == domain]
        assert len(per_domain) <= 1
        assert sum(1 for a in state.recent if a.started > now - 60) <= 2
        if finish and state.in_flight:
            state.finished(next(iter(state.in_flight)))


def _result(cmd, status: str, reason: str = "") -> ActionResult:  # type: ignore[no-untyped-def]
    return ActionResult(
        action_id=cmd.command_id,
        command_id=cmd.command_id,
        incident_id=cmd.incident_id,
        verb=str(cmd.verb),
        target=cmd.target,
        status=status,
        reason=reason,
        started_at=ts(0),
        finished_at=ts(0),
    )


def _verification(cmd, outcome: str) -> Verification:  # type: ignore[no-untyped-def]
    return Verification(
        verification_id="v",
        action_id=cmd.command_id,
        incident_id=cmd.incident_id,
        target=cmd.target,
        verb=str(cmd.verb),
        outcome=outcome,
        started_at=ts(0),
        ts=ts(0),
        window_s=60,
    )


def test_decider_waits_for_evidence_then_acts_once_signed(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=60, act_confidence=0.95)
    inc = incident([hypothesis("api", "bad_deploy", ["rollback_deploy"])], confidence=0.9)
    assert not dec.on_incident(inc, 1000.0).commands
    out = dec.tick(1061.0)
    assert [c.verb for c in out.commands] == ["rollback_deploy"]
    verify(out.commands[0], key)
    assert out.decisions[0].decision.outcome == DecisionOutcome.ALLOW
    assert not dec.tick(1062.0).commands, "one action at a time per incident"


def test_not_recovered_is_undone_then_the_next_hypothesis_is_tried(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=0)
    inc = incident(
        [
            hypothesis("api", "saturation", ["scale"]),
            hypothesis("cache", "memory_leak", ["restart"], rank=2),
        ]
    )
    first = dec.on_incident(inc, 1000.0).commands[0]
    dec.on_result(_result(first, "executed"), 1001.0)
    undo = dec.on_verification(_verification(first, "not_recovered"), 1400.0).commands
    assert [c.verb for c in undo] == ["undo"] and undo[0].params.action_id == first.command_id
    nxt = dec.on_result(_result(undo[0], "undone"), 1401.0).commands
    assert [(c.verb, c.target) for c in nxt] == [("restart", "cache")]


def test_stateless_verb_is_not_undone_and_exhaustion_escalates(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=0)
    first = dec.on_incident(incident([hypothesis("api", "memory_leak", ["restart"])]), 1000.0)
    cmd = first.commands[0]
    dec.on_result(_result(cmd, "executed"), 1001.0)
    out = dec.on_verification(_verification(cmd, "not_recovered"), 1400.0)
    assert not out.commands and out.escalations[0].reason_code == "no_action"
    assert dec.phase("inc-1") == Phase.ESCALATED


def test_novel_incident_pages_only_if_it_persists(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=0, page_after_s=180)
    novel = incident([hypothesis("x", "unknown", ["escalate"])], novel=True, opened=1000.0)
    assert dec.on_incident(novel, 1000.0).escalations == []
    assert dec.tick(1100.0).escalations == []
    out = dec.tick(1181.0)
    assert out.escalations[0].reason_code == "novel" and not out.commands
    blip = incident([hypothesis("y", "unknown", ["escalate"])], iid="i3", novel=True, opened=1000)
    dec.on_incident(blip, 1000.0)
    dec.on_incident(blip.model_copy(update={"status": "recovered"}), 1120.0)
    assert all(e.incident_id != "i3" for e in dec.tick(1500.0).escalations)


def test_novel_incident_escalates_and_denied_action_escalates(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=0, page_after_s=0)
    out = dec.on_incident(incident([hypothesis("x", "unknown", ["escalate"])], novel=True), 1000.0)
    assert out.escalations[0].reason_code == "novel" and not out.commands
    out = dec.on_incident(incident([hypothesis("db-1", "memory_leak", ["restart"])], iid="i2"), 0.0)
    assert out.decisions[0].decision.outcome == DecisionOutcome.DENY
    assert out.escalations and not out.commands


def test_approval_gate_then_approved_command_carries_the_approver(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=0)
    out = dec.on_incident(
        incident([hypothesis("auth", "expired_credential", ["rotate_credential"])]), 1000.0
    )
    req = out.approvals[0]
    assert not out.commands and dec.phase("inc-1") == Phase.AWAITING_APPROVAL
    ok = ApprovalDecision(
        approval_id=req.approval_id,
        incident_id="inc-1",
        approved=True,
        approver="alice",
        ts=ts(1010),
    )
    cmd = dec.on_approval(ok, 1010.0).commands[0]
    assert cmd.approved_by == "alice" and cmd.decision.outcome == DecisionOutcome.ALLOW


def test_unanswered_approval_is_denied_by_default(key: bytes) -> None:
    dec = Decider(envelope(), key, settle_s=0)
    dec.on_incident(
        incident([hypothesis("auth", "expired_credential", ["rotate_credential"])]), 1000.0
    )
    assert not dec.tick(1500.0).escalations
    esc = dec.tick(1601.0).escalations
    assert esc and esc[0].reason_code == "approval_timeout"
