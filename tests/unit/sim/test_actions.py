"""Actions: preconditions, realistic delays, costs, and undo that restores the captured state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.schemas import ChangeEvent, ChangeType, Verb
from setpoint.sim.fleet import Fleet
from setpoint.sim.scenario import Scenario
from setpoint.sim.spec import FleetSpec

REVERSIBLE = [Verb.ROLLBACK_DEPLOY, Verb.SCALE, Verb.RENEW_CERTIFICATE, Verb.ROTATE_CREDENTIAL,
              Verb.SHIFT_TRAFFIC]  # fmt: skip


@pytest.fixture
def fleet(scenario: Callable[[str], Scenario]) -> Fleet:
    """The shop fleet with nothing on its timeline, a minute in."""
    f = scenario("quiet").model_copy(update={"timeline": []}).build(seed=1)
    f.step(f.start + 60.0)
    return f


_CHANGED_BY_ACTIONS = (
    "version", "previous_version", "replicas", "cert_expires_at", "credential_expires_at",
    "credential_revoked", "traffic", "cache",
)  # fmt: skip


def _shape(fleet: Fleet) -> dict[str, tuple[Any, ...]]:
    """What actions change, per service (not the start times of instances or live readings)."""
    states = {name: fleet.state(name) for name in fleet.spec.services}
    return {name: tuple(s[k] for k in _CHANGED_BY_ACTIONS) for name, s in states.items()}


@pytest.mark.parametrize(
    ("verb", "target", "params", "delay"),
    [
        (Verb.RESTART, "frontend", {}, 35.0),
        (Verb.RESTART, "checkout", {}, 25.0),
        (Verb.RESTART, "frontend", {"instances": ["frontend-eu-0"]}, 20.0),
        (Verb.ROLLBACK_DEPLOY, "checkout", {}, 60.0),
        (Verb.SCALE, "catalog", {"replicas": 8}, 60.0),
        (Verb.SCALE, "catalog", {"delta": 1}, 30.0),
        (Verb.SCALE, "catalog", {"replicas": 4}, 0.0),
        (Verb.FLUSH_CACHE, "catalog", {}, 5.0),
        (Verb.RENEW_CERTIFICATE, "payments", {"valid_days": 30}, 15.0),
        (Verb.ROTATE_CREDENTIAL, "payments", {}, 15.0),
        (Verb.SHIFT_TRAFFIC, "db", {"to": "eu"}, 10.0),
        (Verb.ESCALATE, "db", {"reason": "look"}, 0.0),
    ],
)
def test_delays(
    fleet: Fleet, verb: Verb, target: str, params: dict[str, Any], delay: float
) -> None:
    result = fleet.apply(verb, target, params, fleet.now)
    assert result.ok, result.detail
    assert result.effect_delay_s == delay
    assert result.at == fleet.now
    assert 20.0 <= delay <= 40.0 or verb != Verb.RESTART


def test_a_rollback_lands_after_its_delay_with_a_change_event(fleet: Fleet) -> None:
    t = fleet.now
    fleet.apply(Verb.ROLLBACK_DEPLOY, "checkout", {}, t)
    early = fleet.step(t + 59.0)
    assert fleet.state("checkout")["version"] == "4.1.3"
    assert not [e for e in early if isinstance(e, ChangeEvent)]
    late = [e for e in fleet.step(t + 61.0) if isinstance(e, ChangeEvent)]
    assert [(c.change_type, c.version, c.previous_version, c.ts.timestamp()) for c in late] == [
        (ChangeType.ROLLBACK, "4.1.2", "4.1.3", t + 60.0)
    ]
    state = fleet.state("checkout")
    assert (state["version"], state["previous_version"]) == ("4.1.2", None)
    assert all(i["started_at"] == t + 60.0 for i in state["instances"])
    again = fleet.apply(Verb.ROLLBACK_DEPLOY, "checkout", {}, t + 61.0)
    assert not again.ok
    assert "no previous version" in again.detail


@pytest.mark.parametrize(
    ("verb", "target", "params", "why"),
    [
        (Verb.ROLLBACK_DEPLOY, "db", {}, "no previous version"),
        (Verb.ROLLBACK_DEPLOY, "checkout", {"to_version": "3.0"}, "can roll back to 4.1.2 only"),
        (Verb.SCALE, "checkout", {"replicas": 9}, "at most 8 replicas"),
        (Verb.SCALE, "checkout", {"replicas": 3, "delta": 1}, "exactly one of"),
        (Verb.SCALE, "checkout", {"count": 3}, "count"),
        (Verb.FLUSH_CACHE, "payments", {}, "has no cache"),
        (Verb.SHIFT_TRAFFIC, "db", {"to": "ap"}, "does not run in region 'ap'"),
        (Verb.RESTART, "db", {"instances": ["db-xx-9"]}, "unknown instances"),
        ("reboot", "db", {}, "unknown verb"),
        (Verb.RESTART, "mainframe", {}, "unknown service"),
    ],
)
def test_refusals_name_the_reason_and_change_nothing(
    fleet: Fleet, verb: str, target: str, params: dict[str, Any], why: str
) -> None:
    before = _shape(fleet)
    result = fleet.apply(verb, target, params, fleet.now)
    assert not result.ok
    assert why in result.detail
    fleet.step(fleet.now + 120.0)
    assert _shape(fleet) == before


def test_scaling_costs_capacity_within_a_budget(fleet: Fleet) -> None:
    snap = fleet.snapshot()
    assert (snap["replicas_total"], snap["replica_budget"]) == (26, 60)
    t = fleet.now
    assert fleet.apply(Verb.SCALE, "catalog", {"replicas": 16}, t).ok
    assert fleet.apply(Verb.SCALE, "auth", {"replicas": 16}, t).ok
    fleet.step(t + 200.0)
    assert fleet.snapshot()["replicas_total"] == 50
    refused = fleet.apply(Verb.SCALE, "frontend", {"replicas": 16}, fleet.now)
    assert not refused.ok
    assert "budget is 60" in refused.detail
    regions = [i["region"] for i in fleet.state("catalog")["instances"]]
    assert regions.count("eu") == regions.count("us") == 8


def test_shift_without_a_region_picks_the_healthiest_and_needs_two(
    scenario: Callable[[str], Scenario],
) -> None:
    sc = scenario("dependency-outage")
    fleet = sc.build(seed=1)
    fleet.step(fleet.start + 800.0)
    result = fleet.apply(Verb.SHIFT_TRAFFIC, "db", {}, fleet.now)
    assert result.ok
    assert "to eu" in result.detail
    one = Fleet(FleetSpec(regions=["eu"], services={"api": {}}), start=0.0)
    refused = one.apply(Verb.SHIFT_TRAFFIC, "api", {}, 0.0)
    assert not refused.ok
    assert "one region" in refused.detail


def test_escalate_changes_nothing(fleet: Fleet) -> None:
    before = _shape(fleet)
    assert fleet.apply(Verb.ESCALATE, "payments", {"reason": "x"}, fleet.now).ok
    fleet.step(fleet.now + 60.0)
    assert _shape(fleet) == before


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(REVERSIBLE),
            st.sampled_from(["frontend", "checkout", "catalog", "db"]),
            st.integers(min_value=1, max_value=6),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_undo_in_reverse_order_restores_the_fleet(
    scenario: Callable[[str], Scenario], actions: list[tuple[Verb, str, int]]
) -> None:
    fleet = scenario("quiet").model_copy(update={"timeline": []}).build(seed=2)
    before = _shape(fleet)
    done = []
    for verb, target, n in actions:
        params = {"replicas": n} if verb == Verb.SCALE else {}
        result = fleet.apply(verb, target, params, fleet.now)
        fleet.step(fleet.now + result.effect_delay_s + 1.0)
        if result.ok:
            done.append((verb, target, result.captured))
    changed = _shape(fleet) != before
    for verb, target, captured in reversed(done):
        result = fleet.undo(verb, target, captured, fleet.now)
        assert result.ok, result.detail
        fleet.step(fleet.now + result.effect_delay_s + 1.0)
    assert _shape(fleet) == before
    assert changed or not done or all(v == Verb.SCALE for v, _, _ in done)


def test_undo_before_the_action_lands_wins(fleet: Fleet) -> None:
    t = fleet.now
    scaled = fleet.apply(Verb.SCALE, "catalog", {"replicas": 10}, t)
    fleet.step(t + 35.0)
    assert fleet.state("catalog")["pending"] == ["replicas"]
    undone = fleet.undo(Verb.SCALE, "catalog", scaled.captured, t + 35.0)
    assert undone.ok
    fleet.step(t + 300.0)
    assert fleet.state("catalog")["replicas"] == 4
    assert fleet.state("catalog")["pending"] == []


def test_undoing_a_renewal_brings_the_expired_certificate_back(
    scenario: Callable[[str], Scenario],
) -> None:
    fleet = scenario("expired-certificate").build(seed=3)
    fleet.step(fleet.start + 800.0)
    renewed = fleet.apply(Verb.RENEW_CERTIFICATE, "payments", {}, fleet.now)
    fleet.step(fleet.now + 30.0)
    assert not fleet.ground_truth()[0]["symptomatic"]
    assert fleet.undo(Verb.RENEW_CERTIFICATE, "payments", renewed.captured, fleet.now).ok
    fleet.step(fleet.now + 30.0)
    assert fleet.ground_truth()[0]["symptomatic"]


@pytest.mark.parametrize("verb", [Verb.RESTART, Verb.FLUSH_CACHE, Verb.ESCALATE])
def test_irreversible_verbs_cannot_be_undone(fleet: Fleet, verb: Verb) -> None:
    result = fleet.undo(verb, "catalog", {}, fleet.now)
    assert not result.ok
    assert "no inverse" in result.detail


@pytest.mark.parametrize(
    ("verb", "captured", "why"),
    [
        (Verb.SCALE, {}, "replicas"),
        (Verb.ROLLBACK_DEPLOY, {"version": "1"}, "previous_version"),
        (Verb.SHIFT_TRAFFIC, {"traffic": {"mars": 1.0}}, "unknown regions"),
        (Verb.RENEW_CERTIFICATE, {"cert_expires_at": "soon"}, "cert_expires_at"),
    ],
)
def test_undo_refuses_unusable_captured_state(
    fleet: Fleet, verb: Verb, captured: dict[str, Any], why: str
) -> None:
    result = fleet.undo(verb, "catalog", captured, fleet.now)
    assert not result.ok
    assert why in result.detail
