"""Attacks on the actuator topic of a running system: a real ``setpoint actuator`` process (which
holds only the Ed25519 *public* key), the simulated fleet with its control API, the ledger sink
and ``setpoint revoke`` run as a command. A forged, a tampered, a replayed (as is, and late) and
a revoked command are published straight onto the commands topic: none reaches the fleet, and
each is in the ledger with its reason. A genuine command before them shows the path works."""

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
