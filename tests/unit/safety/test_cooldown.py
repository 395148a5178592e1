"""The cooldown: ``cooldown_s`` between actions on the same target, whichever incident or verb
asks (a second verb right after a failed first one is the flap it exists to stop); the undo, the
brake, is never held back. The envelope is the one the actuator re-checks with."""

from __future__ import annotations

from setpoint.policy import LiveState, Proposal
from setpoint.schemas import DecisionOutcome
from tests.unit.safety.conftest import env

POLICY = """
trust: {enabled: false}
limits: {max_actions_per_minute: 100, max_concurrent: 100, max_concurrent_per_domain: 100,
         cooldown_s: 300, max_fleet_share: 1.0}
rules:
  - {id: all, verbs: ["*"], effect: autonomous}
"""


def _after_a_shift(t: float) -> tuple[DecisionOutcome, list[str]]:
    e, state = env(POLICY), LiveState()
    shift = Proposal("shift_traffic", "db", "d", "inc-1", "a")
    state.started(e.action(shift, "a1", 0.0))
    state.finished("a1")  # verified (not recovered) and undone
    d = e.evaluate(Proposal("scale", "db", "d", "inc-1", "a", params={"delta": 4}), state, t)
    return d.outcome, d.rule_ids


def test_another_verb_of_the_same_incident_waits_for_the_cooldown() -> None:
    outcome, rules = _after_a_shift(270.0)
    assert outcome == DecisionOutcome.DENY and rules[-1] == "limits.cooldown_s"
    assert _after_a_shift(300.0)[0] == DecisionOutcome.ALLOW


def test_the_undo_is_never_held_back_by_the_cooldown() -> None:
    e, state = env(POLICY), LiveState()
    state.started(e.action(Proposal("shift_traffic", "db", "d", "inc-1", "a"), "a1", 0.0))
    undo = Proposal("undo", "db", "d", "inc-1", "a", params={"action_id": "a1"})
    assert e.evaluate(undo, state, 10.0).outcome == DecisionOutcome.ALLOW
