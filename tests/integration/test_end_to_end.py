"""A whole incident through the real pipeline: the simulated fleet on Kafka, the worker, the
actuator and the ledger sink; the incident's chain is in the ledger under one id and the fleet
really recovered."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from setpoint.ledger.verify import verify_store
from tests.integration.conftest import wait_for

SCENARIO = Path(__file__).parent / "scenarios" / "cache-e2e.yaml"
FLEET_URL = "http://127.0.0.1:18601"
CHAIN = [
    "anomaly.firing",
    "incident.opened",
    "policy.decision",
    "command.issued",
    "action.executed",
    "verification.recovered",
]


def fleet(path: str) -> Any:
    with urllib.request.urlopen(FLEET_URL + path, timeout=5) as r:
        return json.loads(r.read())


def test_poisoned_cache_is_detected_diagnosed_flushed_verified_and_recorded(  # type: ignore[no-untyped-def]
    env, procs, sink
) -> None:
    procs.start("worker", "worker")
    procs.start("actuator", "actuator", SETPOINT_FLEET_URL=FLEET_URL)
    procs.start(
        "fleet",
        "fleet",
        "run",
        str(SCENARIO),
        "--speed",
        "60",
        "--fast-forward",
        "2500",
        "--seed",
        "3",
        "--no-create-topics",
        SETPOINT_FLEET_URL=FLEET_URL,
    )

    def recovered() -> list[dict[str, Any]]:
        return sink.rows("event_type = 'verification.recovered'")

    rows = wait_for(recovered, 180, "a recovered verification in the ledger", every_s=1.0)
    incident = rows[0]["incident_id"]
    story = sink.rows("incident_id = %(i)s", {"i": incident})
    kinds = [r["event_type"] for r in story]
    for step in CHAIN:
        assert step in kinds, f"{step} missing from {kinds}"
    assert kinds.index("incident.opened") < kinds.index("command.issued")
    assert kinds.index("action.executed") < kinds.index("verification.recovered")
    command = json.loads(next(r for r in story if r["event_type"] == "command.issued")["payload"])
    assert (command["verb"], command["target"]) == ("flush_cache", "catalog")
    action = json.loads(next(r for r in story if r["event_type"] == "action.executed")["payload"])
    requests = [c["request"] for c in action["calls"]]
    assert requests[0] == f"GET {FLEET_URL}/state/catalog", "observed before acting"
    assert any(r.startswith(f"POST {FLEET_URL}/actions") for r in requests), requests
    state = fleet("/state/catalog")
    assert state["cache"] in ("healthy", "cold", "warm"), state
    truth = fleet("/truth")["faults"][0]
    assert not truth["symptomatic"], truth
    assert verify_store(sink.store, None).problems == []
