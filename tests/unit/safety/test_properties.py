"""Properties of the safety envelope under any interleaving (hypothesis):

* the actions in flight never exceed the caps (count, per domain, share of each service, blast
  radius per window in instances and as a share of the fleet), in the decide stage and in the
  actuator, whatever order commands, results and verifications arrive in;
* a command the envelope does not allow never reaches a backend;
* no command issued before a revocation or freeze that covers it runs, even after a restore, and
  one executing when it lands is rolled back.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from setpoint.actuators import Actuator, ExecutionRecords, Outcome
from setpoint.policy import Decider, LiveState, Policy, PolicyEnvelope, sign
from setpoint.schemas import (
    AnyCommand,
    ControlEvent,
    PolicyDecision,
    RollbackCommand,
    ScaleCommand,
    ScaleParams,
)
from tests.unit.conftest import hypothesis, incident
from tests.unit.safety.conftest import SHOP

KEY = b"property-key"
# The actuator's loop bound (a verb at most N times per target per hour) is lifted in these
# properties: what they check is the envelope, and the bound has its own tests.
CAPS = """
trust: {enabled: false}
limits: {max_actions_per_minute: 50, max_concurrent: 4, max_concurrent_per_domain: 2,
         blast_window_s: 300, max_fleet_share: 0.8, max_service_share: 1.0, max_instances: 20,
         cooldown_s: 0, max_attempts_per_incident: 5}
rules:
  - {id: tier1-one, tiers: [1], caps: {max_concurrent: 1}}
  - {id: db-half, services: [db], caps: {max_service_share: 0.5}}
  - {id: all, verbs: ["*"], effect: autonomous}
"""
VERBS = {"scale": "saturation", "restart": "memory_leak", "flush_cache": "poisoned_cache",
         "rollback_deploy": "bad_deploy", "shift_traffic": "dependency_outage"}  # fmt: skip


def memory_records() -> ExecutionRecords:
    """The actuator's execution record in an in-memory SQLite (one per example, no files)."""
    return ExecutionRecords(Path(":memory:"))


class Backend:
    """Applies what it is given; counts calls; can run a hook while "executing"."""

    name = "prop"

    def __init__(self) -> None:
        self.calls: list[AnyCommand] = []
        self.replicas: dict[str, int] = {}
        self.hook: Any = None

    def execute(self, cmd: AnyCommand) -> Outcome:
        self.calls.append(cmd)
        before = self.replicas.get(cmd.target, 4)
        self.replicas[cmd.target] = before + 1
        if self.hook is not None:
            self.hook(cmd)
        return Outcome(True, "ok", captured={"replicas": before})

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        self.replicas[target] = captured["replicas"]
        return Outcome(True, "restored")

    def observe(self, target: str) -> Outcome:
        # A target on which every verb's preconditions hold: what is under test is the envelope.
        state = {
            "service": target, "version": "2", "previous_version": "1",
            "replicas": self.replicas.get(target, 4), "regions": ["eu", "us"],
            "traffic": {"eu": 0.5, "us": 0.5}, "cache": "healthy", "cert_serial": "01",
            "credential_id": "c1",
        }  # fmt: skip
        return Outcome(True, "", captured=state)

    def capture(self, verb: str, target: str) -> Outcome:
        return Outcome(True, "", captured={"replicas": self.replicas.get(target, 4)})


def footprint(verb: str, target: str) -> dict[str, int]:
    """The blast radius, restated from the topology: instances touched (the decide stage scales
    by 2), then the same share of each direct caller's instances."""
    replicas = {n: s.replicas or 0 for n, s in SHOP.services.items()}
    n = 2 if verb == "scale" else replicas[target]
    callers = [c for c, s in SHOP.services.items() if target in s.depends_on]
    return {target: n} | {c: math.ceil(replicas[c] * min(1.0, n / replicas[target]))
                          for c in callers}  # fmt: skip


def assert_within_caps(env: PolicyEnvelope, state: LiveState, now: float) -> None:
    lim = env.policy.file.limits
    flying = list(state.in_flight.values())
    assert len(flying) <= lim.max_concurrent
    for dom in {a.domain for a in flying}:
        assert sum(1 for a in flying if a.domain == dom) <= lim.max_concurrent_per_domain
    assert sum(1 for a in flying if SHOP.services[a.target].tier == 1) <= 1
    busy: dict[str, int] = {}
    for a in flying:
        for svc, n in footprint(a.subject.verb, a.target).items():
            busy[svc] = busy.get(svc, 0) + n
    for svc, n in busy.items():
        assert n <= lim.max_service_share * (SHOP.services[svc].replicas or 0), (svc, n)
    assert sum(2 if a.subject.verb == "scale" else 4 for a in flying if a.target == "db") <= 2
    window = {a.action_id: a for a in state.in_window(now, lim.blast_window_s)}
    total = sum(sum(footprint(a.subject.verb, a.target).values()) for a in window.values())
    assert total <= (lim.max_instances or 0) and total <= lim.max_fleet_share * 26


step = st.one_of(
    st.tuples(st.just("incident"), st.sampled_from(sorted(SHOP.services)),
              st.sampled_from(["scale", "scale", "scale", *sorted(VERBS)]),
              st.sampled_from(["a", "a", "b"])),
    st.tuples(st.just("deliver"), st.integers(0, 7)),
    st.tuples(st.just("verify"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("wait"), st.floats(1, 400)),
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=60))
def test_in_flight_actions_never_exceed_the_caps_under_any_interleaving(steps: list[Any]) -> None:
    env = PolicyEnvelope(Policy.from_text(CAPS), SHOP)
    dec = Decider(env, KEY, settle_s=0)
    act = Actuator(env, KEY, Backend(), memory_records(), max_repeats=10**6)
    queue: list[AnyCommand] = []
    executed: list[str] = []
    now, n = 1_000_000.0, 0
    for s in steps:
        if s[0] == "incident":
            n += 1
            hyp = hypothesis(s[1], VERBS[s[2]], [s[2]])
            queue += dec.on_incident(incident([hyp], iid=f"inc-{n}", opened=now, now=now,
                                              domain=s[3]), now).commands  # fmt: skip
        elif s[0] == "deliver" and queue:
            res = act.execute(queue.pop(s[1] % len(queue)))
            if res.status == "executed":
                executed.append(res.action_id)
            queue += dec.on_result(res, now).commands
        elif s[0] == "verify" and executed:
            aid = executed.pop(s[1] % len(executed))
            v = _verification(aid, dec, act, s[2], now)
            act.finished(aid)
            queue += dec.on_verification(v, now).commands if v else []
        elif s[0] == "wait":
            now += s[1]
            queue += dec.tick(now).commands
        assert_within_caps(env, dec.state, now)
        assert_within_caps(env, act.state, act.clock.now())


def _verification(aid: str, dec: Decider, act: Actuator, ok: bool, now: float) -> Any:
    from setpoint.schemas import Verification

    rec = act.records.by_action(aid)
    if rec is None:
        return None
    return Verification(verification_id=f"v-{aid}", action_id=aid, incident_id=rec.incident_id,
                        target=rec.target, verb=rec.verb,
                        outcome="recovered" if ok else "not_recovered",
                        started_at=datetime.fromtimestamp(now, UTC),
                        ts=datetime.fromtimestamp(now, UTC), window_s=60)  # fmt: skip


# -- a denied command never reaches a backend ------------------------------------------------
GATE = """
trust: {enabled: false}
limits: {max_actions_per_minute: 1000, max_concurrent: 1000, max_concurrent_per_domain: 1000,
         max_fleet_share: 1.0, blast_window_s: 1, cooldown_s: 0, max_attempts_per_incident: 100}
rules:
  - {id: no-db, services: [db], effect: deny}
  - {id: scale-ok, verbs: [scale], effect: autonomous}
  - {id: rollback-gate, verbs: [rollback_deploy], effect: approval}
"""


def _cmd(i: int, verb: str, target: str, epoch: int, t: float, **kw: Any) -> AnyCommand:
    ts = datetime.fromtimestamp(t, UTC)
    base: dict[str, Any] = {
        "command_id": f"c{i}", "incident_id": f"inc-{i}", "agent": kw.pop("agent", "bot"),
        "target": target, "idempotency_key": f"k{i}", "epoch": epoch, "issued_at": ts,
        "expires_at": datetime.fromtimestamp(t + 300, UTC),
        "decision": PolicyDecision(outcome="allow", policy_hash="h", ts=ts), **kw,
    }  # fmt: skip
    if verb == "scale":
        return ScaleCommand(params=ScaleParams(delta=1), **base)
    return RollbackCommand(**base)


def _control(epoch: int, action: str, **who: str) -> ControlEvent:
    ts = datetime.fromtimestamp(0, UTC)
    return ControlEvent(control_id=f"e{epoch}", action=action, epoch=epoch, ts=ts, **who)


attempt = st.tuples(
    st.sampled_from(["scale", "rollback_deploy"]),
    st.sampled_from(["auth", "catalog", "db", "ghost"]),
    st.sampled_from(["valid", "forged", "tampered", "stale"]),
    st.sampled_from([None, "alice"]),
    st.sampled_from([None, "freeze", "unfreeze", "revoke-scale"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(attempt, max_size=30))
def test_a_command_the_envelope_does_not_allow_never_reaches_a_backend(tries: list[Any]) -> None:
    env = PolicyEnvelope(Policy.from_text(GATE), SHOP)
    backend = Backend()
    act = Actuator(env, KEY, backend, memory_records(), max_repeats=10**6)
    frozen, scale_revoked, epoch, t, clock = False, False, 0, 1_000_000.0, 0.0
    for i, (verb, target, how, approver, control) in enumerate(tries):
        if control is not None:
            epoch += 1
            what = {"revoke-scale": ("revoke", "scale")}.get(control, (control, "*"))
            act.on_control(_control(epoch, what[0], verb=what[1]))
            frozen = {"freeze": True, "unfreeze": False}.get(control, frozen)
            scale_revoked = scale_revoked or control == "revoke-scale"
        t += 10
        issued = t - 1000 if how == "stale" else t
        cmd = sign(_cmd(i, verb, target, epoch, issued, approved_by=approver), KEY)
        if how == "forged":
            cmd = sign(cmd, b"not-the-key")
        elif how == "tampered":
            cmd = cmd.model_copy(update={"target": "auth" if target != "auth" else "catalog"})
        before = len(backend.calls)
        act.finished(act.execute(cmd).action_id)  # verified at once: the caps do not bind
        reached = len(backend.calls) > before
        # The actuator's clock is the latest issue time of any authentic command it has seen.
        authentic = how in ("valid", "stale")
        clock = max(clock, issued) if authentic else clock
        allowed = (
            authentic and clock <= issued + 300 and not frozen
            and target in ("auth", "catalog")
            and not (verb == "scale" and scale_revoked)
            and (verb == "scale" or approver is not None)
        )  # fmt: skip
        assert reached == allowed, (verb, target, how, approver, frozen, scale_revoked)


# -- revocation stops every command issued before it ----------------------------------------
event = st.one_of(
    st.tuples(st.just("issue"), st.sampled_from(["a", "b"]), st.sampled_from(["auth", "catalog"])),
    st.tuples(st.just("deliver"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("control"), st.sampled_from(["revoke", "restore", "freeze", "unfreeze"]),
              st.sampled_from(["a", "*"]), st.sampled_from(["auth", "*"])),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(event, max_size=50))
def test_revocation_stops_every_command_issued_before_it(events: list[Any]) -> None:
    env = PolicyEnvelope(Policy.from_text(GATE), SHOP)
    backend = Backend()
    act = Actuator(env, KEY, backend, memory_records(), max_repeats=10**6)
    epoch, queue, seen = 0, [], []  # type: ignore[var-annotated]
    pending: list[ControlEvent] = []
    for i, ev in enumerate(events):
        if ev[0] == "issue":
            queue.append(sign(_cmd(i, "scale", ev[2], epoch, 1e6 + i, agent=ev[1]), KEY))
        elif ev[0] == "control":
            epoch += 1
            pending.append(_control(epoch, ev[1], agent=ev[2], scope=ev[3]))
        elif queue:
            # the control events published so far land before, or while, the command runs
            landing, pending[:] = list(pending), []
            cmd = queue.pop(ev[1] % len(queue))
            if ev[2]:
                backend.hook = lambda _c, evs=landing: [act.on_control(e) for e in evs]
            else:
                for e in landing:
                    act.on_control(e)
                backend.hook = None
            before_exec = list(seen) if ev[2] else [*seen, *landing]
            seen += landing
            before = backend.replicas.get(cmd.target, 4)
            res = act.execute(cmd)
            act.finished(res.action_id)
            for e in landing:  # landed meanwhile, whether or not the backend was called
                act.on_control(e)
            covered = [e for e in seen if _covers(e, cmd) and cmd.epoch < e.epoch]
            if covered:
                assert res.status in ("rejected", "undone"), (cmd.epoch, covered, res.reason)
                assert backend.replicas.get(cmd.target, 4) == before, "left half-applied"
            if _refused(before_exec, cmd):
                expected = "rejected"
            else:
                expected = "undone" if _refused(seen, cmd) else "executed"
            assert res.status == expected, (cmd.epoch, seen, res.reason)


def _covers(e: ControlEvent, cmd: AnyCommand) -> bool:
    if e.action in ("freeze",):
        return True
    if e.action != "revoke":
        return False
    return e.agent in ("*", cmd.agent) and e.scope in ("*", cmd.target)


def _refused(seen: list[ControlEvent], cmd: AnyCommand) -> bool:
    """The rules of ``setpoint.policy.revocation``, restated: refused if issued before a freeze,
    while frozen, while a matching revocation is in force, or before its restore."""
    freezes = [e.epoch for e in seen if e.action == "freeze"]
    unfreezes = [e.epoch for e in seen if e.action == "unfreeze"]
    if any(cmd.epoch < f for f in freezes) or max(freezes, default=0) > max(unfreezes, default=0):
        return True
    for key in {(e.agent, e.scope) for e in seen if e.action == "revoke"}:
        if key[0] not in ("*", cmd.agent) or key[1] not in ("*", cmd.target):
            continue
        revoked = max(e.epoch for e in seen if e.action == "revoke" and (e.agent, e.scope) == key)
        restored = max((e.epoch for e in seen if e.action == "restore"
                        and (e.agent, e.scope) == key), default=-1)  # fmt: skip
        if revoked > restored or cmd.epoch < restored:
            return True
    return False
