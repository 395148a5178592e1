"""The actuator's execution-time checks: forged, tampered, expired, replayed, revoked or newly
denied commands never reach the backend; a duplicate acts once; undo restores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from setpoint.actuators import Actuator, ExecutionRecords, Outcome, Verifier
from setpoint.policy import Policy, PolicyEnvelope, sign
from setpoint.schemas import (
    ActionResult,
    AnyCommand,
    ControlEvent,
    PolicyDecision,
    ScaleCommand,
    ScaleParams,
    ServiceHealth,
    UndoCommand,
    UndoParams,
)
from tests.unit.conftest import hypothesis, incident, ts

POLICY = "rules:\n  - id: r\n    verbs: [scale, restart]\n    effect: autonomous\n"


class RecordingBackend:
    """A test double: remembers calls, keeps a replica count per target."""

    name = "test"

    def __init__(self) -> None:
        self.executed: list[str] = []
        self.replicas: dict[str, int] = {}

    def execute(self, cmd: AnyCommand) -> Outcome:
        self.executed.append(cmd.command_id)
        before = self.replicas.get(cmd.target, 2)
        self.replicas[cmd.target] = before + 2
        return Outcome(True, "scaled", captured={"replicas": before})

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        self.replicas[target] = captured["replicas"]
        return Outcome(True, "restored")

    def observe(self, target: str) -> Outcome:
        state = {"service": target, "replicas": self.replicas.get(target, 2)}
        return Outcome(True, "", captured=state)

    def capture(self, verb: str, target: str) -> Outcome:
        return Outcome(True, "", captured={"replicas": self.replicas.get(target, 2)})


@pytest.fixture
def actuator(tmp_path: Path, key: bytes) -> tuple[Actuator, RecordingBackend]:
    backend = RecordingBackend()
    env = PolicyEnvelope(Policy.from_text(POLICY))
    return Actuator(env, key, backend, ExecutionRecords(tmp_path / "x.sqlite")), backend


def command(
    key: bytes, cid: str = "c1", issued: float = 1000.0, epoch: int = 0, target: str = "api"
) -> ScaleCommand:
    d = PolicyDecision(outcome="allow", policy_hash="h", ts=ts(issued))
    cmd = ScaleCommand(
        command_id=cid,
        incident_id="inc-1",
        agent="setpoint.decide",
        target=target,
        idempotency_key=f"k-{cid}",
        decision=d,
        issued_at=ts(issued),
        expires_at=ts(issued + 300),
        epoch=epoch,
        params=ScaleParams(delta=2),
    )
    return sign(cmd, key)


def test_signed_command_runs_once_and_duplicate_does_not(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    cmd = command(key)
    assert act.execute(cmd).status == "executed"
    again = act.execute(cmd)
    assert again.status == "duplicate" and backend.executed == ["c1"]


@pytest.mark.parametrize("case", ["forged", "tampered", "unsigned"])
def test_forged_or_tampered_never_reaches_the_backend(actuator, key, case) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    cmd = command(key)
    if case == "forged":
        cmd = sign(cmd, b"someone-else")
    elif case == "tampered":
        cmd = cmd.model_copy(update={"target": "payments"})
    else:
        cmd = cmd.model_copy(update={"signature": ""})
    res = act.execute(cmd)
    assert res.status == "rejected" and res.reason_code == "security.signature"
    assert backend.executed == []


def test_expired_command_is_rejected(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    act.execute(command(key, "c0", issued=5000.0, target="web"))
    res = act.execute(command(key, "c1", issued=1000.0))
    assert res.status == "rejected" and res.reason_code == "security.expired"
    assert backend.executed == ["c0"]


def test_forged_command_cannot_move_the_clock(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, _ = actuator
    act.execute(sign(command(key, "evil", issued=9e9), b"wrong"))
    assert act.execute(command(key)).status == "executed"


def control(action: str, epoch: int, **who: str) -> ControlEvent:
    return ControlEvent(control_id=f"c{epoch}", action=action, epoch=epoch, ts=ts(0), **who)


def test_revocation_rejects_until_restored_and_what_was_issued_before(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    act.on_control(control("revoke", 3, agent="setpoint.decide", verb="scale"))
    res = act.execute(command(key, epoch=2))
    assert res.status == "rejected" and res.reason_code == "security.revoked"
    during = act.execute(command(key, "c2", epoch=3))
    assert during.status == "rejected", "a revoked agent's new commands do not run either"
    act.on_control(control("restore", 4, agent="setpoint.decide", verb="scale"))
    assert act.execute(command(key, "c3", epoch=3)).status == "rejected"
    assert act.execute(command(key, "c4", epoch=4)).status == "executed"
    assert backend.executed == ["c4"]


def test_a_revocation_elsewhere_does_not_touch_this_command(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, _ = actuator
    act.on_control(control("revoke", 7, agent="other-agent"))
    act.on_control(control("revoke", 8, agent="*", verb="restart"))
    act.on_control(control("revoke", 9, scope="payments"))
    assert act.execute(command(key, epoch=0)).status == "executed"


def test_commands_queued_before_a_freeze_never_run_even_after_unfreeze(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    act.on_control(control("freeze", 5))
    act.on_control(control("unfreeze", 6))
    res = act.execute(command(key, epoch=4))
    assert res.status == "rejected" and "before the freeze at epoch 5" in res.reason
    assert act.execute(command(key, "c2", epoch=6)).status == "executed"
    assert backend.executed == ["c2"]


class RevokedMidway(RecordingBackend):
    """A revocation lands while the backend is executing (the control reader's thread)."""

    def __init__(self, act: Actuator | None = None) -> None:
        super().__init__()
        self.act = act
        self.undone: list[str] = []

    def execute(self, cmd: AnyCommand) -> Outcome:
        out = super().execute(cmd)
        assert self.act is not None
        self.act.on_control(control("revoke", 1, agent=cmd.agent))
        return out

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        self.undone.append(action_id)
        return super().undo(verb, target, captured, action_id)


def test_a_revocation_landing_mid_execution_rolls_the_action_back(tmp_path: Path, key) -> None:  # type: ignore[no-untyped-def]
    backend = RevokedMidway()
    env = PolicyEnvelope(Policy.from_text(POLICY))
    act = Actuator(env, key, backend, ExecutionRecords(tmp_path / "x.sqlite"))
    backend.act = act
    res = act.execute(command(key))
    assert res.status == "undone" and res.reason_code == "security.revoked"
    assert backend.undone == ["c1"] and backend.replicas["api"] == 2
    assert "rolled back" in res.reason and len(act.state.in_flight) == 0


def test_policy_is_re_evaluated_at_execution_time(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    act.on_control(ControlEvent(control_id="f", action="freeze", epoch=1, ts=ts(0)))
    res = act.execute(command(key, epoch=1))
    assert res.status == "rejected" and res.reason_code == "policy" and "freeze" in res.reason
    assert backend.executed == []


def test_undo_restores_the_captured_state(actuator, key) -> None:  # type: ignore[no-untyped-def]
    act, backend = actuator
    act.execute(command(key))
    assert backend.replicas["api"] == 4
    d = PolicyDecision(outcome="allow", policy_hash="h", ts=ts(1001))
    undo = sign(
        UndoCommand(
            command_id="u1",
            incident_id="inc-1",
            agent="setpoint.decide",
            target="api",
            idempotency_key="undo-c1",
            decision=d,
            issued_at=ts(1001),
            expires_at=ts(1300),
            params=UndoParams(action_id="c1"),
        ),
        key,
    )
    res = act.execute(undo)
    assert res.status == "undone" and res.undoes == "c1" and backend.replicas["api"] == 2


def health(svc: str, t: float, err: float) -> ServiceHealth:
    return ServiceHealth(service=svc, ts=ts(t), anomalous=err > 0.05, slis={"error_rate": err})


def test_verifier_compares_with_the_pre_incident_baseline() -> None:
    v = Verifier(streak=2)
    for t in range(0, 1000, 15):
        v.on_health(health("api", float(t), 0.01))
    v.on_incident(incident([hypothesis("api", "bad_deploy", ["rollback_deploy"])], opened=1000))
    for t in range(1000, 1100, 15):
        v.on_health(health("api", float(t), 0.30))
    res = ActionResult(
        action_id="a",
        command_id="a",
        incident_id="inc-1",
        verb="rollback_deploy",
        target="api",
        status="executed",
        started_at=ts(1100),
        finished_at=ts(1100),
    )
    v.on_result(res, 1100.0)
    assert v.tick(1150.0) == []  # still settling
    out = []
    for t in range(1200, 1260, 15):
        v.on_health(health("api", float(t), 0.012))
        out += v.tick(float(t))
    assert [o.outcome for o in out] == ["recovered"]
    assert out[0].baseline == {"api.error_rate": 0.01}


def test_verifier_says_not_recovered_at_the_deadline() -> None:
    v = Verifier()
    for t in range(0, 1000, 15):
        v.on_health(health("api", float(t), 0.01))
    v.on_incident(incident([hypothesis("api", "saturation", ["scale"])], opened=1000))
    res = ActionResult(
        action_id="a",
        command_id="a",
        incident_id="inc-1",
        verb="scale",
        target="api",
        status="executed",
        started_at=ts(1000),
        finished_at=ts(1000),
    )
    v.on_result(res, 1000.0)
    out = []
    for t in range(1000, 1500, 15):
        v.on_health(health("api", float(t), 0.3))
        out += v.tick(float(t))
    assert [o.outcome for o in out] == ["not_recovered"]
