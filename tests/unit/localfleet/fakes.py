"""Stand-ins for processes and the proxy, so the local fleet's logic runs in unit tests (its
files, CA, secret store and cache are real, in a temporary directory)."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from setpoint.localfleet.control import ControlServer, FleetAPI
from setpoint.localfleet.faults import Injector
from setpoint.localfleet.fleet import LocalFleet
from setpoint.localfleet.proxy import Upstream
from setpoint.localfleet.spec import LocalFleetSpec

SPEC = {
    "name": "unit",
    "ports": [18690, 18699],
    "releases": {"1.4.1": {}, "1.4.2": {}, "2.0.0": {"error_rate": 0.3}},
    "load": {"entry": "api"},
    "services": {
        "api": {
            "replicas": 2,
            "version": "1.4.2",
            "previous_version": "1.4.1",
            "cache": True,
            "depends_on": ["db"],
        },
        "db": {"replicas": 2, "auth": True},
    },
}


@dataclass
class FakeProcesses:
    """Every spawn "works"; signals kill; PIDs count up."""

    alive_pids: dict[int, list[str]] = field(default_factory=dict)
    exited: dict[int, int] = field(default_factory=dict)
    signals: list[tuple[int, int]] = field(default_factory=list)
    _pids: Iterator[int] = field(default_factory=lambda: itertools.count(4000))

    def spawn(self, argv: list[str], log: Path) -> int:
        pid = next(self._pids)
        self.alive_pids[pid] = argv
        return pid

    def ready(self, port: int, timeout_s: float) -> bool:
        return True

    def signal(self, pid: int, sig: int) -> None:
        if pid not in self.alive_pids:
            raise ProcessLookupError(pid)
        self.signals.append((pid, sig))
        if sig in (signal.SIGTERM, signal.SIGKILL):
            del self.alive_pids[pid]
            self.exited[pid] = -sig

    def wait(self, pid: int, timeout_s: float) -> int | None:
        return self.exited.get(pid)

    def alive(self, pid: int) -> bool:
        return pid in self.alive_pids


@dataclass
class FakeRouter:
    routes: dict[str, tuple[list[Upstream], dict[str, float]]] = field(default_factory=dict)
    listening: dict[str, int] = field(default_factory=dict)

    def listen(self, service: str, port: int) -> None:
        self.listening[service] = port

    def route(self, service: str, upstreams: list[Upstream], weights: dict[str, float]) -> None:
        self.routes[service] = (list(upstreams), dict(weights))


@dataclass
class Fleet:
    fleet: LocalFleet
    procs: FakeProcesses
    router: FakeRouter
    url: str


@pytest.fixture
def fake_fleet(tmp_path: Path) -> Iterator[Fleet]:
    procs, router = FakeProcesses(), FakeRouter()
    spec = LocalFleetSpec.model_validate(SPEC)
    fleet = LocalFleet(spec, tmp_path / "fleet", procs, router)
    fleet.setup()
    server = ControlServer(FleetAPI(fleet, Injector(fleet)), "127.0.0.1", 0)
    server.start()
    try:
        yield Fleet(fleet, procs, router, f"http://127.0.0.1:{server.port}")
    finally:
        server.stop()
        fleet.close()
