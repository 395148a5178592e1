"""Two workers share the partitions; the one that owns the incident's domain is killed (kill -9)
right after it issued the command; the survivor takes the domain over from its checkpoints and
the incident completes once: one incident, one command, executed once, verified once, and the
fleet really recovered."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from setpoint.ledger.verify import verify_store
from tests.integration.conftest import wait_for, worker_status

SCENARIO = Path(__file__).parent / "scenarios" / "cache-e2e.yaml"
FLEET_URL = "http://127.0.0.1:18721"
FAST = {"SETPOINT_CHECKPOINT_INTERVAL_S": "2", "SETPOINT_SESSION_TIMEOUT_S": "6"}


def _holds(env: dict[str, str], worker: str, stage: str, key: str) -> bool:
    keeper = worker_status(env, worker).get("keepers", {}).get(stage, {})
    return bool(keeper.get("ready")) and key in keeper.get("keys", [])


def _both_assigned(env: dict[str, str]) -> bool:
    owned = [worker_status(env, w).get("keepers", {}).get("detect", {}) for w in ("w1", "w2")]
    return all(k.get("ready") and k.get("owned") for k in owned)


def test_the_survivor_completes_the_incident_once_after_kill_9_mid_incident(  # type: ignore[no-untyped-def]
    env, procs, sink
) -> None:
    procs.start("w1", "worker", SETPOINT_WORKER_ID="w1", **FAST)
    procs.start("w2", "worker", SETPOINT_WORKER_ID="w2", **FAST)
    wait_for(lambda: _both_assigned(env), 60, "both workers to own partitions")
    procs.start("actuator", "actuator", SETPOINT_FLEET_URL=FLEET_URL)
    procs.start(
        "fleet", "fleet", "run", str(SCENARIO), "--speed", "10", "--fast-forward", "2500",
        "--seed", "3", "--no-create-topics", SETPOINT_FLEET_URL=FLEET_URL,
    )  # fmt: skip

    issued = wait_for(
        lambda: sink.rows("event_type = 'command.issued'"), 240, "the command", every_s=0.2
    )
    incident = issued[0]["incident_id"]
    assert not sink.rows("event_type LIKE 'verification.%'"), "killed mid-incident, not after"
    domain = json.loads(issued[0]["payload"])["domain"]
    owners = [w for w in ("w1", "w2") if _holds(env, w, "decide", domain)]
    assert len(owners) == 1, f"one worker owns the incident's domain: {owners}"
    victim, survivor = owners[0], "w2" if owners[0] == "w1" else "w1"
    procs.kill(victim)

    done = wait_for(
        lambda: sink.rows("event_type LIKE 'verification.%'"), 180, "the verification", every_s=1
    )
    assert [r["event_type"] for r in done] == ["verification.recovered"]
    assert {r["incident_id"] for r in done} == {incident}
    wait_for(lambda: _holds(env, survivor, "decide", domain), 30, "the survivor's status")

    def ids(kind: str) -> set[str]:
        return {r["entity_id"] for r in sink.rows("event_type = %(k)s", {"k": kind})}

    assert ids("incident.opened") == {incident}, "the fault is one incident, not a second one"
    assert len(ids("command.issued")) == 1, ids("command.issued")
    assert len(ids("action.executed")) == 1 and not ids("action.rejected")
    kept = worker_status(env, survivor)["keepers"]
    assert kept["decide"]["restored"] >= 1 and kept["verify"]["restored"] >= 1, kept
    assert kept["detect"]["restored"] >= 1, "the victim's services moved too"
    wait_for(lambda: not _fleet("/truth")["faults"][0]["symptomatic"], 30, "the fleet to heal")
    assert "Traceback" not in procs.log(survivor)
    assert verify_store(sink.store, None).problems == []


def _fleet(path: str) -> Any:
    with urllib.request.urlopen(FLEET_URL + path, timeout=5) as r:
        return json.loads(r.read())
