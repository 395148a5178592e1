"""The right verb on the right target fixes each fault after its delay; every other verb, and the
right verb on the wrong target, does not. Checked for every fault scenario against every verb, so
the ground truth the scenario files declare is what the model really does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from setpoint.schemas import Verb
from setpoint.sim.actions import SCALE_BATCH_S
from setpoint.sim.fleet import Fleet
from setpoint.sim.scenario import Scenario

FAULT_SCENARIOS = [
    "bad-deploy", "memory-leak", "saturation", "poisoned-cache", "expired-certificate",
    "expired-credential", "dependency-outage", "novel",
]  # fmt: skip
PARAMS: dict[Verb, dict[str, Any]] = {
    Verb.SCALE: {"replicas": 10},
    Verb.ESCALATE: {"reason": "test"},
}
ONSET = 120.0
ACT_AFTER = {"memory-leak": 480.0}
"""Act once the fault hurts (the leak takes ~7 minutes to hang auth)."""


def _fleet(sc: Scenario) -> tuple[Fleet, float]:
    """The scenario with its fault moved early (warm-up does not matter here), and the onset."""
    fault = sc.faults()[0].model_copy(update={"at": ONSET})
    fleet = sc.model_copy(update={"timeline": [fault]}).build(seed=4)
    return fleet, fleet.start + ONSET


def _healthy(fleet: Fleet, service: str) -> bool:
    """The service and its direct callers are well (an expired certificate or a region down
    hurts the callers, not the service's own numbers)."""
    callers = [
        n for n, s in fleet.spec.services.items() if service in {d.service for d in s.depends_on}
    ]
    readings = [fleet.reading(n) for n in [service, *callers]]
    assert all(r is not None for r in readings)
    return all(r.error_rate < 0.05 and r.saturation < 0.9 for r in readings if r is not None)


def _symptomatic(fleet: Fleet) -> bool:
    return bool(fleet.ground_truth()[0]["symptomatic"])


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("name", FAULT_SCENARIOS)
def test_only_the_remedies_fix_the_fault(
    scenario: Callable[[str], Scenario], name: str, verb: Verb
) -> None:
    sc = scenario(name)
    fault = sc.faults()[0]
    fleet, onset = _fleet(sc)
    t = onset + ACT_AFTER.get(name, 120.0)
    fleet.step(t)
    assert _symptomatic(fleet)
    assert not _healthy(fleet, fault.service)
    result = fleet.apply(verb, fault.service, PARAMS.get(verb, {}), t)
    fixes = verb in type(fault).remedies
    first = min(result.effect_delay_s, SCALE_BATCH_S)  # scaling lands batch by batch
    if first > 0:
        fleet.step(t + first - 1.0)
        assert _symptomatic(fleet), "nothing lands before the delay"
    fleet.step(t + result.effect_delay_s + 30.0)
    assert _symptomatic(fleet) is not fixes
    assert _healthy(fleet, fault.service) is fixes
    if verb in fault.expect.fixed_by:
        assert fixes
        assert result.ok


@pytest.mark.parametrize("name", FAULT_SCENARIOS)
def test_declared_ground_truth_matches_the_model(
    scenario: Callable[[str], Scenario], name: str
) -> None:
    fault = scenario(name).faults()[0]
    assert set(fault.expect.fixed_by) <= type(fault).remedies
    assert bool(fault.expect.fixed_by) == bool(type(fault).remedies)
    assert fault.expect.root == fault.service


def test_the_novel_fault_is_fixed_by_nothing_even_all_together(
    scenario: Callable[[str], Scenario],
) -> None:
    sc = scenario("novel")
    fleet, onset = _fleet(sc)
    t = onset + 60.0
    fleet.step(t)
    for verb in Verb:
        fleet.apply(verb, "inventory", PARAMS.get(verb, {}), t)
    fleet.step(t + 300.0)
    assert _symptomatic(fleet)
    assert not _healthy(fleet, "inventory")


@pytest.mark.parametrize("verb", [Verb.RESTART, Verb.ROLLBACK_DEPLOY, Verb.SCALE])
@pytest.mark.parametrize("target", ["frontend", "payments"])
def test_acting_on_the_wrong_service_does_not_fix_a_bad_deploy(
    scenario: Callable[[str], Scenario], verb: Verb, target: str
) -> None:
    fleet, onset = _fleet(scenario("bad-deploy"))
    t = onset + 120.0
    fleet.step(t)
    result = fleet.apply(verb, target, PARAMS.get(verb, {}), t)
    assert result.ok
    fleet.step(t + result.effect_delay_s + 60.0)
    assert _symptomatic(fleet)
    assert not _healthy(fleet, "checkout")


def test_a_restart_of_a_leaking_service_helps_only_until_memory_climbs_again(
    scenario: Callable[[str], Scenario],
) -> None:
    sc = scenario("memory-leak")
    fault = sc.faults()[0]
    fleet, onset = _fleet(sc)
    t = onset + 480.0
    fleet.step(t)
    done = t + fleet.apply(Verb.RESTART, "auth", {}, t).effect_delay_s
    headroom = (
        0.85 * sc.fleet.services["auth"].memory_limit_mb - sc.fleet.services["auth"].memory_mb
    )
    back = done + headroom / fault.mb_per_s  # type: ignore[attr-defined]
    fleet.step(done + 180.0)  # a verification window of three minutes sees a recovery
    assert not _symptomatic(fleet)
    assert _healthy(fleet, "auth")
    fleet.step(back + 20.0)
    assert _symptomatic(fleet)
