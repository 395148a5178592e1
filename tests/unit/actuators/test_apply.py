"""What the actuator does once a command is allowed: preconditions before acting, the capture in
the durable record before the backend is called, exactly once per idempotency key (even after a
restart), the loop bound, undo, and recovery of an action its actuator stopped in the middle of."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from setpoint.actuators import Actuator, ExecutionRecords
from setpoint.policy import Policy, PolicyEnvelope, sign
from setpoint.schemas import AnyCommand, Command, PolicyDecision
from tests.unit.actuators.memory import Crash, MemoryBackend, service
from tests.unit.conftest import ts

POLICY = """
rules:
  - {id: r, verbs: [scale, restart, rollback_deploy, flush_cache, shift_traffic],
     effect: autonomous}
limits: {cooldown_s: 0, max_actions_per_minute: 100, max_attempts_per_incident: 100,
         max_concurrent_per_domain: 100}
"""

Factory = Callable[..., AnyCommand]


@pytest.fixture
def make(key: bytes) -> Factory:
    from pydantic import TypeAdapter

    adapter: TypeAdapter[AnyCommand] = TypeAdapter(Command)

    def build(verb: str, cid: str, t: float = 1000.0, target: str = "api", **params: Any) -> Any:
        d = PolicyDecision(outcome="allow", policy_hash="h", ts=ts(t))
        cmd = adapter.validate_python(
            {
                "verb": verb,
                "command_id": cid,
                "incident_id": "inc-1",
                "agent": "setpoint.decide",
                "target": target,
                "idempotency_key": f"k-{cid}",
                "decision": d,
                "issued_at": ts(t),
                "expires_at": ts(t + 300),
                "params": params,
            }
        )
        return sign(cmd, key)

    return build


def actuator(tmp_path: Path, key: bytes, backend: MemoryBackend, **kw: Any) -> Actuator:
    records = ExecutionRecords(tmp_path / "records.sqlite", owner="a")
    return Actuator(PolicyEnvelope(Policy.from_text(POLICY)), key, backend, records, **kw)


def test_a_failed_precondition_is_a_failed_result_with_the_reason_and_no_action(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api", previous_version=None))
    act = actuator(tmp_path, key, backend)
    res = act.execute(make("rollback_deploy", "c1"))
    assert res.status == "failed" and res.reason_code == "actuator.precondition"
    assert "no previous version" in res.reason and res.calls  # the observation is recorded
    assert backend.executed == []
    assert act.execute(make("rollback_deploy", "c1")).status == "duplicate"


def test_an_unknown_target_fails_cleanly(tmp_path: Path, key: bytes, make: Factory) -> None:
    backend = MemoryBackend(service("api"))
    res = actuator(tmp_path, key, backend).execute(make("restart", "c1", target="ghost"))
    assert res.status == "failed" and res.reason_code == "actuator.unknown_target"
    assert backend.executed == []


def test_the_capture_is_durable_before_the_backend_acts(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api", replicas=2))
    act = actuator(tmp_path, key, backend)
    backend.crash_after = "half"
    with pytest.raises(Crash):
        act.execute(make("scale", "c1", delta=2))
    rec = ExecutionRecords(tmp_path / "records.sqlite").get("k-c1")
    assert rec is not None and rec.status == "started"
    assert rec.captured == {"replicas": 2} and rec.expected == {"replicas": 4}
    assert rec.command_json and rec.owner == "a"


def test_a_duplicate_acts_once_even_after_a_restart(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api"))
    cmd = make("scale", "c1", delta=1)
    assert actuator(tmp_path, key, backend).execute(cmd).status == "executed"
    again = actuator(tmp_path, key, backend).execute(cmd)  # a new process, same record file
    assert again.status == "duplicate"
    assert backend.executed == ["c1"] and backend.states["api"].replicas == 3


def test_the_remediation_loop_is_bounded_per_verb_and_target(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api"), service("db"))
    act = actuator(tmp_path, key, backend, max_repeats=2, repeat_window_s=600)
    got = [act.execute(make("restart", f"c{k}", t=1000 + 60 * k)).status for k in range(3)]
    assert got == ["executed", "executed", "failed"]
    res = act.execute(make("restart", "c9", t=1200))
    assert res.reason_code == "actuator.repeat" and "2 times" in res.reason
    assert act.execute(make("restart", "d1", t=1200, target="db")).status == "executed"
    assert act.execute(make("restart", "c10", t=1000 + 60 + 601)).status == "executed"


def test_undo_restores_and_marks_the_action_undone(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api"))
    act = actuator(tmp_path, key, backend)
    act.execute(make("rollback_deploy", "c1"))
    assert backend.states["api"].version == "1.9"
    res = act.execute(make("undo", "u1", t=1001, action_id="c1"))
    assert res.status == "undone" and res.undoes == "c1"
    assert backend.states["api"].version == "2.0"
    assert act.records.by_action("c1").status == "undone"  # type: ignore[union-attr]
    again = act.execute(make("undo", "u2", t=1002, action_id="c1"))
    assert again.status == "failed" and "undone" in again.reason


def test_an_irreversible_or_stateless_action_is_not_undone(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api"))
    act = actuator(tmp_path, key, backend)
    act.execute(make("restart", "c1"))
    res = act.execute(make("undo", "u1", t=1001, action_id="c1"))
    assert res.status == "failed" and "no inverse" in res.reason and backend.undone == []


# -- recovery ----------------------------------------------------------------------------------
def test_recovery_resumes_verification_when_the_effect_landed(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api"))
    backend.crash_after = "landed"
    with pytest.raises(Crash):
        actuator(tmp_path, key, backend).execute(make("scale", "c1", delta=2))
    act = actuator(tmp_path, key, backend)  # the restarted actuator
    [res] = act.recover()
    assert res.status == "executed" and "verification follows" in res.reason
    assert backend.undone == [] and backend.states["api"].replicas == 4
    assert "c1" in act.state.in_flight
    assert act.execute(make("scale", "c1", delta=2)).status == "duplicate"  # the redelivery
    assert act.recover() == []


def test_recovery_rolls_back_an_action_that_did_not_land(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api", traffic={"eu": 0.5, "us": 0.5}))
    backend.crash_after = "half"
    with pytest.raises(Crash):
        actuator(tmp_path, key, backend).execute(make("shift_traffic", "c1", to="eu"))
    backend.states["api"] = backend.states["api"].model_copy(  # half-applied: a partial split
        update={"traffic": {"eu": 0.8, "us": 0.2}}
    )
    [res] = actuator(tmp_path, key, backend).recover()
    assert res.status == "failed" and res.reason_code == "interrupted"
    assert "rolled back to the captured state" in res.reason
    assert backend.states["api"].traffic == {"eu": 0.5, "us": 0.5} and backend.undone == ["c1"]
    assert any(c.operation == "undo" for c in res.calls)


def test_recovery_of_a_stateless_action_that_did_not_land_says_so(
    tmp_path: Path, key: bytes, make: Factory
) -> None:
    backend = MemoryBackend(service("api"))
    backend.crash_after = "half"
    with pytest.raises(Crash):
        actuator(tmp_path, key, backend).execute(make("restart", "c1"))
    [res] = actuator(tmp_path, key, backend).recover()
    assert res.status == "failed" and "no inverse, nothing to roll back" in res.reason
    assert backend.undone == []


def test_recovery_finishes_an_interrupted_undo(tmp_path: Path, key: bytes, make: Factory) -> None:
    backend = MemoryBackend(service("api"))
    first = actuator(tmp_path, key, backend)
    first.execute(make("scale", "c1", delta=3))
    original = backend.undo

    def dies(*a: Any) -> Any:
        raise Crash

    backend.undo = dies  # type: ignore[method-assign]
    with pytest.raises(Crash):
        first.execute(make("undo", "u1", t=1001, action_id="c1"))
    backend.undo = original  # type: ignore[method-assign]
    [res] = actuator(tmp_path, key, backend).recover()
    assert res.status == "undone" and res.undoes == "c1" and backend.states["api"].replicas == 2


def test_recovery_only_takes_its_own_records(tmp_path: Path, key: bytes, make: Factory) -> None:
    backend = MemoryBackend(service("api"))
    backend.crash_after = "half"
    with pytest.raises(Crash):
        actuator(tmp_path, key, backend).execute(make("scale", "c1", delta=1))
    other = Actuator(
        PolicyEnvelope(Policy.from_text(POLICY)),
        key,
        backend,
        ExecutionRecords(tmp_path / "records.sqlite", owner="b"),
    )
    assert other.recover() == []
