"""The safety envelope on real processes.

Attacks on the actuator topic of a running system: a real ``setpoint actuator`` process (which
holds only the Ed25519 *public* key), the simulated fleet with its control API, the ledger sink
and ``setpoint revoke`` run as a command. A forged, a tampered, a replayed (as is, and late) and
a revoked command are published straight onto the commands topic: none reaches the fleet, and
each is in the ledger with its reason. A genuine command before them shows the path works.

Then the decide stage on a real worker, fed incidents directly (detection and diagnosis are other
tests' business): a credential rotation waits for a human (the requesting agent cannot approve
it, alice can, and the command carries her name), a restart of the tier-0 db is refused, and the
trust record survives a restart of the worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from setpoint.policy import sign
from setpoint.schemas import (
    AnyCommand,
    PolicyDecision,
    RenewCertificateCommand,
    RestartCommand,
    RollbackCommand,
    ScaleCommand,
    ScaleParams,
)
from setpoint.sim.runner import FleetRunner
from setpoint.sim.scenario import load_scenario
from setpoint.streams.codec import encode
from setpoint.streams.loading import generate_keypair
from setpoint.streams.topics import COMMANDS
from tests.integration.conftest import ROOT, producer, settings_from, topic, wait_for

FLEET_URL = "http://127.0.0.1:18610"
WATCHED = ("auth", "catalog", "checkout", "payments")


@pytest.fixture
def fleet(env: dict[str, str]) -> Iterator[tuple[FleetRunner, list[str]]]:
    lines: list[str] = []
    settings = settings_from({**env, "SETPOINT_FLEET_URL": FLEET_URL})
    runner = FleetRunner(settings, load_scenario(ROOT / "scenarios" / "quiet.yaml"), seed=3,
                         speed=5.0, stop_at_end=False, observer=lines.append)  # fmt: skip
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    wait_for(lambda: runner._server is not None, 20, "the fleet's control API")
    yield runner, lines
    runner.stop()
    thread.join(timeout=20)


def _state(runner: FleetRunner) -> dict[str, Any]:
    """What an action would change: versions, replicas, certificates, credentials, traffic."""
    keep = ("version", "replicas", "cert_expires_at", "credential_expires_at",
            "credential_revoked", "traffic", "pending")  # fmt: skip
    out = {}
    for svc in WATCHED:
        s = runner.fleet_state(svc) or {}
        out[svc] = {k: s.get(k) for k in keep}
        out[svc]["instances"] = [(i["name"], i["started_at"]) for i in s.get("instances", [])]
    return out


def _command(cls: type, cid: str, target: str, issued: float, epoch: int = 0, **kw: Any) -> Any:
    t = datetime.fromtimestamp(issued, UTC)
    return cls(command_id=cid, incident_id=f"inc-{cid}", agent="setpoint.decide", target=target,
               idempotency_key=f"key-{cid}", issued_at=t, epoch=epoch,
               expires_at=datetime.fromtimestamp(issued + 300, UTC),
               decision=PolicyDecision(outcome="allow", policy_hash="it", ts=t), **kw)  # fmt: skip


def _publish(env: dict[str, str], *cmds: AnyCommand | bytes) -> None:
    p = producer(env)
    for c in cmds:
        raw = c if isinstance(c, bytes) else encode(c)
        p.produce(topic(env, COMMANDS), key=b"default", value=raw)
    p.flush(10)


def _revoke(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "setpoint.cli", "revoke", "--agent", "setpoint.decide",
         "--reason", "integration test"],
        env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_forged_tampered_replayed_and_revoked_commands_never_run(  # type: ignore[no-untyped-def]
    env, procs, sink, fleet, tmp_path: Path
) -> None:
    runner, lines = fleet
    key_path = tmp_path / "keys" / "signing.key"
    public = generate_keypair(key_path)
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    procs.env.pop("SETPOINT_SIGNING_KEY")  # the actuator gets the public key only
    procs.start("actuator", "actuator", SETPOINT_VERIFY_KEY_PATH=str(public),
                SETPOINT_FLEET_URL=FLEET_URL)  # fmt: skip

    now = time.time()
    genuine = sign(_command(ScaleCommand, "genuine", "inventory", now,
                            params=ScaleParams(delta=1)), private)  # fmt: skip
    _publish(env, genuine)
    wait_for(lambda: sink.rows("event_type = 'action.executed'"), 90, "the genuine command to run")
    assert any(line.startswith("act scale inventory: ok") for line in lines), lines
    before = _state(runner)

    forged = sign(_command(RestartCommand, "forged", "auth", now + 1),
                  Ed25519PrivateKey.generate())  # fmt: skip
    tampered = sign(_command(ScaleCommand, "tampered", "catalog", now + 2,
                             params=ScaleParams(delta=1)), private)  # fmt: skip
    tampered = tampered.model_copy(update={"params": ScaleParams(delta=8)})
    late = sign(_command(RollbackCommand, "late", "checkout", now - 1000), private)
    _publish(env, forged, tampered, encode(genuine), late)
    said = _revoke(env)
    assert "revoke agent=setpoint.decide" in said and "at epoch 1" in said
    revoked = sign(_command(RenewCertificateCommand, "revoked", "payments", now + 3), private)
    after = sign(_command(RenewCertificateCommand, "after", "payments", now + 4, epoch=1), private)
    _publish(env, revoked, after)

    def outcomes() -> dict[str, dict[str, Any]]:
        rows = sink.rows("stage = 'execute' AND entity_id != 'genuine'")
        got = {r["entity_id"]: json.loads(r["payload"]) | {"type": r["event_type"]} for r in rows}
        return got if len(got) >= 5 else {}

    got = wait_for(outcomes, 90, "every attack recorded in the ledger")
    codes = {cid: (o["type"], o["reason_code"]) for cid, o in got.items()}
    assert codes == {
        "forged": ("action.rejected", "security.signature"),
        "tampered": ("action.rejected", "security.signature"),
        "late": ("action.rejected", "security.expired"),
        "revoked": ("action.rejected", "security.revoked"),
        "after": ("action.rejected", "security.revoked"),
    }, codes
    dup = wait_for(lambda: sink.rows("event_type = 'action.duplicate'"), 30, "the replay")
    assert dup[0]["entity_id"] == "genuine" and "not executed again" in dup[0]["summary"]
    control = wait_for(lambda: sink.rows("event_type = 'control.revoke'"), 30, "the revocation")
    assert "agent=setpoint.decide" in control[0]["summary"]
    assert "revoked (epoch 1)" in got["revoked"]["reason"]

    time.sleep(2.0)  # anything that had been applied would show by now
    acts = [line for line in lines if line.startswith(("act ", "undo "))]
    assert acts == [acts[0]] and acts[0].startswith("act scale inventory"), acts
    assert _state(runner) == before
    assert "Traceback" not in procs.log("actuator")


def _incident(iid: str, service: str, fault: str, verb: str) -> bytes:
    now = datetime.fromtimestamp(time.time(), UTC)
    hyp = {"rank": 1, "service": service, "fault_class": fault, "score": 0.9, "actions": [verb],
           "evidence_for": [{"kind": "anomaly", "service": service, "summary": "it moved",
                             "weight": 0.5}]}  # fmt: skip
    inc = {"incident_id": iid, "status": "open", "opened_at": now.isoformat(),
           "ts": now.isoformat(), "services": [service], "anomaly_ids": ["a-1"],
           "hypotheses": [hyp], "confidence": 0.95, "summary": f"{fault} on {service}"}  # fmt: skip
    return json.dumps(inc).encode()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "setpoint.cli", *args], env={**os.environ, **env},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_gated_action_waits_for_a_human_a_refused_one_never_runs_and_trust_persists(  # type: ignore[no-untyped-def]
    env, procs, sink, fleet
) -> None:
    from setpoint.streams.control import trust_records
    from setpoint.streams.topics import INCIDENTS

    _, lines = fleet
    procs.start("worker", "worker", SETPOINT_FLEET_URL=FLEET_URL)
    procs.start("actuator", "actuator", SETPOINT_FLEET_URL=FLEET_URL)
    p = producer(env)
    for raw in (_incident("inc-cred", "payments", "expired_credential", "rotate_credential"),
                _incident("inc-db", "db", "memory_leak", "restart")):  # fmt: skip
        p.produce(topic(env, INCIDENTS), key=b"default", value=raw)
    p.flush(10)

    asked = wait_for(lambda: sink.rows("event_type = 'approval.requested'"), 90, "the gate")
    apr = asked[0]["entity_id"]
    db = "event_type = 'policy.decision' AND incident_id = 'inc-db'"
    refused = wait_for(lambda: sink.rows(db), 30, "the db decision")
    assert "restart on db: deny by tier0-no-restart" in refused[0]["summary"]
    assert not any("rotate_credential" in line for line in lines), "nothing runs before a human"

    mine = _cli(env, "approvals", "approve", apr, "--as", "setpoint.decide")
    assert mine.returncode == 2 and "security.self_approval" in mine.stderr
    ok = _cli(env, "approvals", "approve", apr, "--as", "alice", "--comment", "leaked: rotate")
    assert ok.returncode == 0 and f"approved {apr} as alice" in ok.stdout, ok.stderr
    ran = "event_type = 'action.executed' AND incident_id = 'inc-cred'"
    done = wait_for(lambda: sink.rows(ran), 60, "the approved rotation")
    assert json.loads(done[0]["payload"])["verb"] == "rotate_credential"
    issued = sink.rows("event_type = 'command.issued' AND incident_id = 'inc-cred'")
    assert "approved by alice" in issued[0]["summary"]
    assert any(line.startswith("act rotate_credential payments: ok") for line in lines)
    assert not any(" db" in line and line.startswith("act restart") for line in lines)

    # Trust survives a restart of the worker: the next proposal counts on from the record.
    settings = settings_from(env)
    pair = ("setpoint.decide", "rotate_credential", "service:payments")

    def record() -> Any:
        recs = trust_records(settings)
        return next((r for r in recs if (r.agent, r.verb, r.scope) == pair), None)

    first = wait_for(lambda: (r := record()) is not None and r.agreed == 1 and r, 30, "trust")
    assert first.proposals == 1
    procs.kill("worker")
    procs.start("worker2", "worker", SETPOINT_FLEET_URL=FLEET_URL)
    p.produce(
        topic(env, INCIDENTS),
        key=b"default",
        value=_incident("inc-cred-2", "payments", "expired_credential", "rotate_credential"),
    )
    p.flush(10)
    again = wait_for(lambda: (r := record()) is not None and r.proposals >= 2 and r, 90,
                     "the restarted worker's trust update")  # fmt: skip
    assert (again.proposals, again.agreed, again.version) == (2, 1, first.version + 1)
    assert "Traceback" not in procs.log("worker2") + procs.log("actuator")


def test_the_barrier_returns_only_once_every_published_control_event_is_applied(env) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from setpoint.schemas import ControlEvent
    from setpoint.streams.broadcast import BroadcastReader
    from setpoint.streams.topics import CONTROL

    settings = settings_from(env)
    applied: list[int] = []
    reader = BroadcastReader(settings, [CONTROL], lambda _s, v: applied.append(v.epoch), None)

    async def scenario() -> tuple[int, int, bool]:
        reader.start(asyncio.get_running_loop())
        while not reader.ready.is_set():
            await asyncio.sleep(0.05)
        p = producer(env)
        t0 = datetime.fromtimestamp(0, UTC)
        for epoch in range(1, 41):
            ev = ControlEvent(control_id=f"c{epoch}", action="revoke", epoch=epoch, ts=t0,
                              agent=f"agent-{epoch}")  # fmt: skip
            p.produce(topic(env, CONTROL), key=f"revoke:agent-{epoch}".encode(), value=encode(ev))
        p.flush(10)
        seen_at_once = len(applied)
        ok = await reader.barrier(timeout_s=10)
        return seen_at_once, len(applied), ok

    try:
        at_once, after, ok = asyncio.run(scenario())
    finally:
        reader.stop()
    assert ok and after == 40, (at_once, after)
    assert at_once < 40, "published events are not applied instantly: the barrier had to wait"
