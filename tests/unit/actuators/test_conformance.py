"""The backend conformance suite (``setpoint.actuators.conformance``) over every backend that can
run without infrastructure: the simulated fleet (its real HTTP control API on a loopback port,
its clock stepped by hand), the local process fleet driven through a fake process driver, and
the in-memory test double (which keeps the suite itself honest). The integration suite runs the
same checks on real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from setpoint.actuators import SimFleetBackend
from setpoint.actuators.conformance import CHECK_NAMES, Harness, checks
from setpoint.actuators.local_backend import LocalProcessBackend
from setpoint.settings import Settings
from setpoint.sim.control import ControlServer
from setpoint.sim.runner import FleetRunner
from setpoint.sim.scenario import load_scenario
from tests.unit.actuators.memory import MemoryBackend, service
from tests.unit.localfleet.fakes import Fleet, fake_fleet

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
SIM_TARGETS = {
    "restart": "catalog",
    "rollback_deploy": "catalog",
    "scale": "catalog",
    "flush_cache": "catalog",
    "rotate_credential": "payments",
    "renew_certificate": "payments",
    "shift_traffic": "catalog",
    "escalate": "catalog",
}


@pytest.fixture
def sim_harness() -> Iterator[Harness]:
    runner = FleetRunner(Settings(), load_scenario(SCENARIOS / "quiet.yaml"), seed=1, speed=1.0)
    server = ControlServer(runner, "http://127.0.0.1:0")
    server.start()

    def settle() -> None:
        # Every verb lands within 60 simulated seconds; a flushed cache stays cold for 65.
        with runner._lock:
            runner.fleet.step(max(runner.clock.now(), runner.fleet.now) + 61.0)

    try:
        backend = SimFleetBackend(f"http://127.0.0.1:{server.port}")
        yield Harness(backend, SIM_TARGETS, settle)
    finally:
        server.stop()


@pytest.fixture
def memory_harness() -> Harness:
    backend = MemoryBackend(service("api"), service("db"))
    return Harness(backend, dict.fromkeys(SIM_TARGETS, "api"))


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_sim_backend_conforms(sim_harness: Harness, name: str) -> None:
    dict(checks(sim_harness))[name]()


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_memory_backend_conforms(memory_harness: Harness, name: str) -> None:
    dict(checks(memory_harness))[name]()


class _Broken(MemoryBackend):
    """Scales in name only: the suite must notice."""

    def _resize(self, s, n):  # type: ignore[no-untyped-def]
        return s


def test_the_suite_catches_a_backend_whose_effect_does_not_show() -> None:
    h = Harness(_Broken(service("api")), dict.fromkeys(SIM_TARGETS, "api"))
    with pytest.raises(AssertionError, match="the effect does not show"):
        dict(checks(h))["effect:scale"]()


def test_the_suite_catches_a_backend_that_raises_on_an_unknown_target() -> None:
    class Raising(MemoryBackend):
        def observe(self, target):  # type: ignore[no-untyped-def]
            return self.states[target]

    h = Harness(Raising(service("api")), dict.fromkeys(SIM_TARGETS, "api"))
    with pytest.raises(KeyError):
        dict(checks(h))["unknown_target"]()


__all__ = ["fake_fleet"]
LOCAL_TARGETS = {**dict.fromkeys(SIM_TARGETS, "api"), "shift_traffic": "db"}


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_local_backend_conforms_on_a_fake_process_driver(fake_fleet: Fleet, name: str) -> None:
    h = Harness(LocalProcessBackend(fake_fleet.url), LOCAL_TARGETS)
    dict(checks(h))[name]()
