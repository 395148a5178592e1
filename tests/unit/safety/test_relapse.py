"""A resolved case acts again when the fault it fixed fires again in the same incident (a leak a
restart only emptied), or another fault joins and leads it: never on the same news twice, never
inside the cooldown, never past the attempts cap (the envelope refuses, and the case escalates),
never for an incident a human was paged for."""

from __future__ import annotations

from setpoint.policy import Decider, Phase, Policy, PolicyEnvelope
from setpoint.schemas import Incident, Verb
from tests.unit.conftest import hypothesis, incident
from tests.unit.safety.conftest import SHOP
from tests.unit.safety.test_decider import result, verification

POLICY = """
trust: {enabled: false}
limits: {cooldown_s: 300, max_attempts_per_incident: 2}
rules:
  - {id: restart, verbs: [restart], effect: autonomous}
  - {id: scale, verbs: [scale], effect: autonomous}
"""


def decider() -> Decider:
    return Decider(PolicyEnvelope(Policy.from_text(POLICY), SHOP), b"k", agent="bot", settle_s=0)


def leak(*anomalies: str, svc: str = "auth", fault: str = "memory_leak") -> Incident:
    verb = "restart" if fault == "memory_leak" else "scale"
    inc = incident(
        [hypothesis(svc, fault, [verb]), hypothesis("catalog", "saturation", ["scale"], 2)]
    )
    return inc.model_copy(update={"anomaly_ids": list(anomalies), "status": "updated"})


def fixed(dec: Decider) -> None:
    cmd = dec.on_incident(leak("a1"), 1000.0).commands[0]
    dec.on_result(result(cmd, "executed"), 1001.0)
    dec.on_verification(verification(cmd, "recovered"), 1100.0)
    assert dec.phase("inc-1") == Phase.RESOLVED


def test_a_fix_that_did_not_hold_is_applied_again_on_new_anomalies_after_the_cooldown() -> None:
    dec = decider()
    fixed(dec)
    assert not dec.on_incident(leak("a1"), 1400.0).commands, "no new anomaly: no news"
    assert not dec.on_incident(leak("a1", "a2"), 1200.0).commands, "inside the cooldown"
    again = dec.on_incident(leak("a1", "a2"), 1400.0).commands
    assert [(c.verb, c.target, c.attempt) for c in again] == [(Verb.RESTART, "auth", 2)]


def test_past_the_attempts_cap_the_relapse_is_escalated_not_acted_on() -> None:
    dec = decider()
    fixed(dec)
    cmd = dec.on_incident(leak("a1", "a2"), 1400.0).commands[0]
    dec.on_result(result(cmd, "executed"), 1401.0)
    dec.on_verification(verification(cmd, "recovered"), 1500.0)
    out = dec.on_incident(leak("a1", "a2", "a3"), 1800.0)
    assert not out.commands and out.escalations[0].reason_code == "no_action"
    assert "max_attempts" in " ".join(out.decisions[0].decision.rule_ids)
    assert not dec.on_incident(leak("a1", "a2", "a3", "a4"), 2200.0).escalations, "paged once"


def test_an_escalated_incident_is_a_humans_and_is_not_reopened() -> None:
    dec = decider()
    novel = incident([hypothesis("inventory", "unknown", ["escalate"])], novel=True)
    assert dec.on_incident(novel.model_copy(update={"anomaly_ids": ["a1"]}), 1200.0).escalations
    out = dec.on_incident(leak("a1", "a2", svc="payments", fault="saturation"), 1600.0)
    assert not out.commands and dec.phase("inc-1") == Phase.ESCALATED


def test_another_fault_that_joins_a_resolved_incident_and_leads_it_is_acted_on() -> None:
    dec = decider()
    fixed(dec)
    assert not dec.on_incident(leak("a1", svc="payments", fault="saturation"), 1600.0).commands
    out = dec.on_incident(leak("a1", "a2", svc="payments", fault="saturation"), 1600.0)
    assert [(c.verb, c.target) for c in out.commands] == [(Verb.SCALE, "payments")]


def test_a_configuration_change_that_worked_is_not_applied_again() -> None:
    dec = decider()
    cmd = dec.on_incident(leak("a1", svc="catalog", fault="saturation"), 1000.0).commands[0]
    dec.on_result(result(cmd, "executed"), 1001.0)
    dec.on_verification(verification(cmd, "recovered"), 1100.0)
    out = dec.on_incident(leak("a1", "a2", svc="catalog", fault="saturation"), 1600.0)
    assert not out.commands and dec.phase("inc-1") == Phase.RESOLVED


def test_another_incident_does_not_reapply_a_configuration_change_that_worked() -> None:
    dec = decider()
    first = leak("a1", svc="catalog", fault="saturation")
    cmd = dec.on_incident(first, 1000.0).commands[0]
    dec.on_result(result(cmd, "executed"), 1001.0)
    dec.on_verification(verification(cmd, "recovered"), 1100.0)
    second = first.model_copy(update={"incident_id": "inc-2", "anomaly_ids": ["b1"]})
    out = dec.on_incident(second, 1500.0)
    assert not out.commands and out.escalations[0].reason_code == "no_action"
    third = second.model_copy(update={"incident_id": "inc-3"})
    assert dec.on_incident(third, 1000.0 + 3700.0).commands, "an hour later it may again"


def test_another_incident_may_reset_a_state_again() -> None:
    dec = decider()
    fixed(dec)
    other = leak("b1").model_copy(update={"incident_id": "inc-2"})
    assert [c.target for c in dec.on_incident(other, 1500.0).commands] == ["auth"]
