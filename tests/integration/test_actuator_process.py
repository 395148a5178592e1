"""The real ``setpoint actuator`` process, on real Kafka, acting on the local fleet of real
processes: a duplicated command acts once; an actuator killed with ``kill -9`` in the middle of a
rolling rollback rolls it back on restart and does not run it again; a partition moving to
another actuator (another record file) carries what already ran; a human's ``setpoint rollback``
undoes an action. Every wait is bounded; every process is stopped."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from setpoint.localfleet.runner import LocalFleetRunner
from setpoint.policy import sign
from setpoint.schemas import ActionResult, AnyCommand, Command
from setpoint.streams.codec import decode, encode
from setpoint.streams.topics import COMMANDS, LEDGER, RESULTS
from tests.integration.conftest import ROOT, Processes, consume_all, producer, topic, wait_for
from tests.integration.localfleet_helpers import fleet_calls, local_fleet, state, topology_file

KEY = b"integration-test-key"
FLEET = {
    "name": "it-actuator",
    "ports": [18640, 18699],
    "load": {"entry": "web", "rps": 1, "probe_rps": 0.2},
    "releases": {"1.0": {}, "1.1": {}},
    "services": {
        "web": {"replicas": 2, "version": "1.1", "previous_version": "1.0", "depends_on": ["db"]},
        "api": {"replicas": 2, "version": "1.1", "previous_version": "1.0"},
        "db": {"replicas": 2, "version": "1.0"},
    },
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleetRunner]:
    with local_fleet(FLEET, tmp_path_factory.mktemp("fleet")) as runner:
        yield runner


@pytest.fixture
def actuator_env(env: dict[str, str], fleet: LocalFleetRunner, tmp_path: Path) -> dict[str, str]:
    topo = topology_file(FLEET, tmp_path / "topology.yaml")
    return {**env, "SETPOINT_BACKEND": "local", "SETPOINT_FLEET_URL": fleet.url,
            "SETPOINT_TOPOLOGY_PATH": topo}  # fmt: skip


def command(verb: str, target: str, **params: Any) -> AnyCommand:
    now = time.time()
    cid = f"cmd-{uuid.uuid4().hex[:12]}"
    raw = {
        "verb": verb,
        "command_id": cid,
        "incident_id": f"inc-{cid}",
        "agent": "it",
        "target": target,
        "idempotency_key": f"key-{cid}",
        "decision": {"outcome": "allow", "policy_hash": "it", "ts": now},
        "issued_at": now,
        "expires_at": now + 300,
        "params": params,
    }
    return sign(TypeAdapter(Command).validate_python(raw), KEY)


def publish(env: dict[str, str], cmd: AnyCommand) -> None:
    p = producer(env)
    p.produce(topic(env, COMMANDS), key=cmd.domain.encode(), value=encode(cmd))
    p.flush(10)


def results(env: dict[str, str], command_id: str) -> list[ActionResult]:
    got = [decode(RESULTS, raw) for raw in consume_all(env, RESULTS, timeout_s=2.0)]
    return [r for r in got if r.command_id == command_id]


def start_actuator(
    procs: Processes, env: dict[str, str], name: str = "actuator", **extra: str
) -> subprocess.Popen[bytes]:
    proc = procs.start(name, "actuator", **{**env, **extra})
    return proc


def test_a_duplicated_command_acts_once(
    actuator_env: dict[str, str], procs: Processes, fleet: LocalFleetRunner
) -> None:
    start_actuator(procs, actuator_env)
    before = state(fleet, "api")["replicas"]
    cmd = command("scale", "api", delta=1)
    publish(actuator_env, cmd)
    publish(actuator_env, cmd)  # a producer retry, a redelivery: the same command again
    got = wait_for(
        lambda: (r := results(actuator_env, cmd.command_id)) and len(r) >= 2 and r,
        90,
        "two results for the duplicated command",
    )
    assert sorted(r.status for r in got) == ["duplicate", "executed"]
    assert state(fleet, "api")["replicas"] == before + 1
    posts = [c for c in fleet_calls(fleet, cmd.command_id) if c["method"] == "POST"]
    assert [c["path"] for c in posts] == ["/services/api/replicas"]
    executed = next(r for r in got if r.status == "executed")
    assert any(c.operation == "local.spawn" and "service.py" in c.request for c in executed.calls)
    assert "Traceback" not in procs.log("actuator")


def test_an_actuator_killed_mid_rollback_rolls_it_back_on_restart_and_never_reruns_it(
    actuator_env: dict[str, str], procs: Processes, fleet: LocalFleetRunner, tmp_path: Path
) -> None:
    proc = start_actuator(procs, actuator_env)
    before = state(fleet, "web")
    assert {i["version"] for i in before["instances"]} == {"1.1"}
    cmd = command("rollback_deploy", "web")
    publish(actuator_env, cmd)

    def first_replica_asked() -> bool:
        return any(c["method"] == "POST" for c in fleet_calls(fleet, cmd.command_id))

    wait_for(first_replica_asked, 90, "the rollback to start its first replica", every_s=0.02)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9, mid-action
    proc.wait(timeout=10)
    procs.procs.pop("actuator")
    data = Path(actuator_env["SETPOINT_DATA_DIR"])
    record = data / f"actuator-{actuator_env['SETPOINT_APP_ID']}-a.sqlite"
    assert _status(record, cmd.idempotency_key) == "started"
    half = state(fleet, "web")
    assert {i["version"] for i in half["instances"]} != {"1.0"}, "it was stopped mid-way"

    start_actuator(procs, actuator_env, "actuator-2")
    got = wait_for(lambda: results(actuator_env, cmd.command_id), 90, "the recovery's result")
    res = got[0]
    assert res.status == "failed" and res.reason_code == "interrupted", res.reason
    assert "rolled back to the captured state" in res.reason
    after = state(fleet, "web")
    assert (after["version"], after["previous_version"]) == ("1.1", "1.0")
    assert {i["version"] for i in after["instances"]} == {"1.1"} and after["replicas"] == 2
    assert _status(record, cmd.idempotency_key) == "failed"
    publish(actuator_env, cmd)  # the redelivery of the killed actuator's command
    wait_for(
        lambda: any(r.status == "duplicate" for r in results(actuator_env, cmd.command_id)),
        60,
        "the redelivered command to be answered as a duplicate",
    )
    rerun = [c for c in fleet_calls(fleet, cmd.command_id) if c["path"].endswith("/version")]
    assert len(rerun) == 1, "the rollback itself ran once; only its undo followed"


def _status(db: Path, key: str) -> str:
    con = sqlite3.connect(db)
    try:
        row = con.execute("SELECT status FROM executions WHERE idempotency_key = ?", (key,))
        return str(row.fetchone()[0])
    finally:
        con.close()


def test_a_partition_moving_to_another_actuator_carries_what_already_ran(
    actuator_env: dict[str, str], procs: Processes, fleet: LocalFleetRunner, tmp_path: Path
) -> None:
    start_actuator(procs, actuator_env)
    cmd = command("scale", "db", delta=1)
    publish(actuator_env, cmd)
    wait_for(lambda: results(actuator_env, cmd.command_id), 90, "the first actuator's result")
    procs.kill("actuator")
    replicas = state(fleet, "db")["replicas"]
    # Another actuator, another record file: only the journal can tell it the command ran.
    other = {"SETPOINT_WORKER_ID": "b", "SETPOINT_DATA_DIR": str(tmp_path / "other")}
    start_actuator(procs, actuator_env, "actuator-b", **other)
    publish(actuator_env, cmd)
    wait_for(
        lambda: any(r.status == "duplicate" for r in results(actuator_env, cmd.command_id)),
        90,
        "the other actuator to answer duplicate",
    )
    assert state(fleet, "db")["replicas"] == replicas
    posts = [c for c in fleet_calls(fleet, cmd.command_id) if c["method"] == "POST"]
    assert len(posts) == 1


def test_a_human_rolls_an_action_back_by_hand(
    actuator_env: dict[str, str], procs: Processes, fleet: LocalFleetRunner
) -> None:
    start_actuator(procs, actuator_env)
    before = state(fleet, "web")["traffic"]
    cmd = command("shift_traffic", "web", to="eu")
    publish(actuator_env, cmd)
    wait_for(lambda: results(actuator_env, cmd.command_id), 90, "the shift to execute")
    assert state(fleet, "web")["traffic"] == {"eu": 1.0, "us": 0.0}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "setpoint.cli",
            "rollback",
            cmd.command_id,
            "--as",
            "alice",
            "--wait",
            "90",
        ],
        env={**os.environ, **actuator_env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "undone" in out.stdout
    assert state(fleet, "web")["traffic"] == before
    issued = [decode(LEDGER, raw) for raw in consume_all(actuator_env, LEDGER, timeout_s=2.0)]
    human = [
        e
        for e in issued
        if e.event_type == "command.issued" and e.payload.get("agent") == "human:alice"
    ]
    assert human and human[0].payload["params"]["action_id"] == cmd.command_id
