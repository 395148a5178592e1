"""The fleet as a whole: deterministic under a seed, indifferent to how time is stepped, with a
daily load shape, and faults that propagate from callee to caller, attenuated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from setpoint.schemas import Event, MetricBatch, Verb
from setpoint.sim import Fleet, FleetSpec, LoadProfile
from setpoint.sim.scenario import Scenario


def _dump(events: list[Event]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for e in events]


def _run(sc: Scenario, seed: int, steps: list[float]) -> list[Event]:
    fleet = sc.build(seed=seed)
    out: list[Event] = []
    for s in steps:
        out += fleet.step(fleet.start + s)
        if s == 800.0:
            out.append(fleet.apply(Verb.FLUSH_CACHE, "catalog", {}, fleet.now))  # type: ignore[arg-type]
    return out


def test_same_seed_same_events_different_seed_different(
    scenario: Callable[[str], Scenario],
) -> None:
    sc = scenario("poisoned-cache")
    a = _run(sc, 7, [400.0, 800.0, 1000.0])
    assert _dump(a) == _dump(_run(sc, 7, [400.0, 800.0, 1000.0]))
    assert _dump(a) != _dump(_run(sc, 8, [400.0, 800.0, 1000.0]))


def test_stepping_in_small_or_large_steps_gives_the_same_events(
    scenario: Callable[[str], Scenario],
) -> None:
    sc = scenario("bad-deploy")
    fine = _run(sc, 3, [*(float(t) for t in range(0, 1000, 7)), 1000.0])
    coarse = _run(sc, 3, [1000.0])
    assert len(fine) > 5000
    assert _dump(fine) == _dump(coarse)


def test_ids_carry_the_prefix_of_the_run(scenario: Callable[[str], Scenario]) -> None:
    fleet = scenario("expired-certificate").build(seed=1, id_prefix="run42-")
    changes = [e for e in fleet.step(fleet.start + 30.0) if e.kind == "change"]  # type: ignore[attr-defined]
    assert changes
    assert all(c.change_id.startswith("chg-run42-") for c in changes)


def test_time_never_goes_back(scenario: Callable[[str], Scenario]) -> None:
    fleet = scenario("quiet").build(seed=1)
    fleet.step(fleet.start + 100.0)
    assert fleet.step(fleet.start + 50.0) == []
    assert fleet.now == fleet.start + 100.0


def test_load_follows_the_daily_shape() -> None:
    spec = FleetSpec(services={"api": {"entry_rps": 100, "replicas": 8}})
    load = LoadProfile(amplitude=0.5, peak_hour_utc=12.0, noise=0.0)
    fleet = Fleet(spec, start=0.0, load=load, seed=1)
    events = fleet.step(86400.0)
    rate = {
        int(e.points[0].ts.timestamp() // 3600): p.value
        for e in events
        if isinstance(e, MetricBatch)
        for p in e.points
        if p.name == "request_rate"
    }
    assert rate[12] > 1.4 * 100 > 100 > 0.6 * 100 > rate[0]


def test_failures_propagate_from_callee_to_caller_attenuated() -> None:
    spec = FleetSpec(
        services={
            "web": {"entry_rps": 100, "depends_on": [{"service": "api", "attenuation": 0.5}]},
            "api": {"depends_on": ["db"]},
            "db": {"cache": True},
        }
    )
    from setpoint.sim.faults import PoisonedCache

    truth = {"root": "db", "fault_class": "poisoned_cache", "fixed_by": ["flush_cache"]}
    fleet = Fleet(spec, start=0.0, timeline=[PoisonedCache(service="db", at=0, expect=truth)])  # type: ignore[arg-type]
    fleet.step(60.0)
    err = {n: r.error_rate for n in spec.services if (r := fleet.reading(n)) is not None}
    assert 0.29 < err["db"] < 0.32
    assert 0.8 * err["db"] - 0.01 < err["api"] < 0.8 * err["db"] + 0.01
    assert 0.5 * err["api"] - 0.01 < err["web"] < 0.5 * err["api"] + 0.01


def test_ground_truth_follows_the_timeline(scenario: Callable[[str], Scenario]) -> None:
    fleet = scenario("red-herring-deploy").build(seed=1)
    fleet.step(fleet.start + 700.0)
    (truth,) = fleet.ground_truth()
    assert (truth["id"], truth["begun"], truth["symptomatic"]) == (
        "expired_credential-1",
        False,
        False,
    )
    fleet.step(fleet.start + 760.0)
    assert fleet.ground_truth()[0]["begun"]
    assert fleet.ground_truth()[0]["symptomatic"]
