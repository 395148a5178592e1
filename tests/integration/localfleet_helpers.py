"""A local fleet of real processes for integration tests (no telemetry to Kafka), on a control
port of the 18620-18639 range and replica ports of 18640-18699."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from setpoint.localfleet.driver import PortPool
from setpoint.localfleet.runner import LocalFleetRunner
from setpoint.localfleet.spec import LocalScenario
from setpoint.settings import Settings


@contextmanager
def local_fleet(fleet: dict[str, Any], state_dir: Path) -> Iterator[LocalFleetRunner]:
    port = PortPool(18620, 18639).take()
    scenario = LocalScenario.model_validate({"name": "it", "fleet": fleet, "warmup_s": 0})
    runner = LocalFleetRunner(
        Settings(fleet_url=f"http://127.0.0.1:{port}"), scenario, state_dir, publish=False
    )
    try:
        runner.open()
        yield runner
    finally:
        runner.close()


def topology_file(fleet: dict[str, Any], path: Path) -> str:
    """A topology file declaring ``fleet``'s services (the envelope refuses undeclared targets:
    their blast radius cannot be bounded)."""
    lines = ["services:"]
    for name, svc in fleet["services"].items():
        calls = svc.get("depends_on", [])
        deps = ", ".join(d if isinstance(d, str) else d["service"] for d in calls)
        lines.append(f"  - {{name: {name}, tier: 2, replicas: {svc.get('replicas', 1)}, "
                     f"depends_on: [{deps}]}}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def fleet_calls(runner: LocalFleetRunner, action_id: str) -> list[dict[str, Any]]:
    """The requests the fleet's control API received for ``action_id``."""
    with urllib.request.urlopen(f"{runner.url}/calls", timeout=5) as resp:
        calls = json.loads(resp.read())["calls"]
    return [c for c in calls if c["action_id"] == action_id]


def state(runner: LocalFleetRunner, service: str) -> dict[str, Any]:
    assert runner.fleet is not None
    return runner.fleet.observe(service)
