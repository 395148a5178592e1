"""Blast radius: an action touches its target's instances and its callers', and the caps count
what is in flight across incidents and agents."""

from __future__ import annotations

from setpoint.policy import LiveState, Proposal
from setpoint.schemas import DecisionOutcome
from tests.unit.safety.conftest import SHOP, env

OPEN = """
trust: {enabled: false}
limits: {max_actions_per_minute: 100, max_concurrent: 100, max_concurrent_per_domain: 100,
         cooldown_s: 0, max_fleet_share: 1.0}
rules:
  - {id: all, verbs: ["*"], effect: autonomous}
"""


def test_a_service_with_many_callers_has_a_bigger_blast_radius() -> None:
    assert SHOP.footprint("restart", {}, "db", depth=1) == {"db": 4, "payments": 4, "inventory": 4}
    assert SHOP.footprint("restart", {}, "frontend", depth=1) == {"frontend": 4}
    two = SHOP.footprint("restart", {}, "db", depth=2)
    assert two == {"db": 4, "payments": 4, "inventory": 4, "checkout": 2, "catalog": 4}
    half = SHOP.footprint("restart", {"instances": ["db-0", "db-1"]}, "db", depth=1)
    assert half == {"db": 2, "payments": 2, "inventory": 2}


def test_fleet_share_counts_dependents_and_recent_actions_in_the_window() -> None:
    e = env(OPEN.replace("max_fleet_share: 1.0", "max_fleet_share: 0.5, blast_window_s: 300"))
    state = LiveState()
    db = Proposal("restart", "db", "d", "inc-1", "a")  # 12 of 26 instances
    assert e.evaluate(db, state, 0.0).outcome == DecisionOutcome.ALLOW
    state.started(e.action(db, "a1", 0.0))
    state.finished("a1")  # finished, but still inside the window
    more = Proposal("flush_cache", "catalog", "d", "inc-2", "a")  # catalog 4 + frontend 4
    d = e.evaluate(more, state, 100.0)
    assert d.outcome == DecisionOutcome.DENY and d.rule_ids[-1] == "limits.max_fleet_share"
    assert "20 of 26 fleet instances" in d.reasons[-1]
    assert e.evaluate(more, state, 301.0).outcome == DecisionOutcome.ALLOW


def test_service_share_counts_concurrent_actions_on_a_service_and_its_callers() -> None:
    text = OPEN + "  - {id: db-half, services: [db, payments], caps: {max_service_share: 0.5}}\n"
    e = env(text)
    state = LiveState()
    one = Proposal("restart", "db", "d", "i1", "a", params={"instances": ["db-0", "db-1"]})
    assert e.evaluate(one, state, 0.0).outcome == DecisionOutcome.ALLOW
    state.started(e.action(one, "a1", 0.0))
    two = Proposal("restart", "db", "d", "i2", "b", params={"instances": ["db-2"]})
    d = e.evaluate(two, state, 1.0)
    assert d.outcome == DecisionOutcome.DENY and d.rule_ids[-1] == "db-half.caps.max_service_share"
    # payments is busy through db's restart (its callers' share): a restart of payments is capped
    pay = Proposal("restart", "payments", "d", "i3", "c", params={"instances": ["p-0"]})
    assert e.evaluate(pay, state, 2.0).rule_ids[-1] == "db-half.caps.max_service_share"
    state.finished("a1")
    assert e.evaluate(two, state, 3.0).outcome == DecisionOutcome.ALLOW


def test_absolute_instance_cap_and_scoped_concurrency_across_agents() -> None:
    text = OPEN.replace("max_fleet_share: 1.0", "max_fleet_share: 1.0, max_instances: 10")
    text += "  - {id: tier2-one, tiers: [2], caps: {max_concurrent: 1}}\n"
    e = env(text)
    state = LiveState()
    a = Proposal("scale", "catalog", "d", "i1", "agent-a", params={"delta": 2})  # 2 + frontend 2
    state.started(e.action(a, "a1", 0.0))
    b = Proposal("scale", "inventory", "d", "i2", "agent-b", params={"delta": 1})
    d = e.evaluate(b, state, 1.0)
    assert d.rule_ids[-1] == "tier2-one.caps.max_concurrent", "another agent's action counts"
    c = Proposal("renew_certificate", "payments", "d", "i3", "agent-c")  # 4 + checkout 2 -> 10
    assert e.evaluate(c, state, 1.0).outcome == DecisionOutcome.ALLOW
    big = Proposal("renew_certificate", "db", "d", "i4", "agent-c")  # 4 + 12 -> 16
    assert e.evaluate(big, state, 1.0).rule_ids[-1] == "limits.max_instances"


def test_the_actuator_counts_the_larger_of_its_own_and_the_claimed_instances() -> None:
    e = env(OPEN)
    claimed = Proposal("scale", "auth", "d", "i", "a", params={"delta": 1}, instances=4)
    assert e.action(claimed, "x", 0.0).footprint["auth"] == 4
    understated = Proposal("restart", "auth", "d", "i", "a", instances=1)
    assert e.action(understated, "x", 0.0).footprint["auth"] == 4


def test_an_action_never_verified_stops_counting_after_the_expiry() -> None:
    e = env(OPEN.replace("max_concurrent: 100,", "max_concurrent: 1, in_flight_expiry_s: 600,"))
    state = LiveState()
    state.started(e.action(Proposal("restart", "auth", "d", "i", "a"), "lost", 0.0))
    p = Proposal("restart", "catalog", "d", "i2", "a")
    assert e.evaluate(p, state, 10.0).rule_ids[-1] == "limits.max_concurrent"
    assert e.evaluate(p, state, 601.0).outcome == DecisionOutcome.ALLOW
