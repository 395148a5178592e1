"""A fix judged while other faults of the same incident sit behind its target (a storm): the
target is judged alone, on its own errors, not on the errors of its calls to the other roots nor
on callers those roots hurt through it; without other roots, the same signals fail it."""

from __future__ import annotations

from setpoint.actuators import Verifier
from setpoint.schemas import Hypothesis, Verification
from tests.unit.actuators.test_verify import executed, health
from tests.unit.conftest import hypothesis, incident

CALLERS = {"checkout": ["frontend"], "payments": ["checkout"], "db": ["payments"]}
QUIET = {"log_errors": 1.0, "log_errors:exception": 1.0}


def judged(behind: str, checkout: dict[str, float]) -> Verification:
    """A rollback on checkout while db, behind it, is ``behind`` in the diagnosis; afterwards
    checkout's signals are ``checkout`` and frontend still fails."""
    v = Verifier(callers=CALLERS)
    for t in range(0, 1000, 15):
        for s in ("checkout", "frontend"):
            v.on_health(health(s, float(t), **QUIET))
    hyps: list[Hypothesis] = [
        hypothesis("checkout", "bad_deploy", ["rollback_deploy"]),
        hypothesis("db", behind, ["shift_traffic"], rank=2),
        hypothesis("frontend", "unknown", [], rank=3),
    ]
    v.on_incident(incident(hyps, opened=1000))
    v.on_result(executed("rollback_deploy", "checkout", 1100.0), 1100.0)
    out: list[Verification] = []
    for t in range(1200, 1700, 15):
        v.on_health(health("checkout", float(t), **checkout))
        v.on_health(health("frontend", float(t), error_rate=0.4))
        out += v.tick(float(t))
    assert len(out) == 1
    return out[0]


UPSTREAM = {
    "error_rate": 0.5,
    "log_errors": 21.0,
    "log_errors:exception": 1.0,
    "log_errors:upstream_unavailable": 20.0,
}


def test_a_fix_behind_which_another_root_still_fails_is_judged_on_its_own_errors() -> None:
    v = judged("dependency_outage", UPSTREAM)
    assert v.outcome == "recovered"
    assert "behind other roots: frontend" in v.detail


def test_without_another_root_behind_the_target_the_same_signals_are_not_recovered() -> None:
    assert judged("unknown", UPSTREAM).outcome == "not_recovered"


def test_its_own_errors_still_fail_a_fix_whatever_is_behind_it() -> None:
    own = {**UPSTREAM, "log_errors:exception": 15.0, "log_errors": 35.0}
    assert judged("dependency_outage", own).outcome == "not_recovered"


def test_errors_that_name_another_roots_fault_class_are_that_roots() -> None:
    tls = {**UPSTREAM, "log_errors:upstream_unavailable": 0.0, "log_errors:tls_handshake": 20.0}
    assert judged("expired_certificate", tls).outcome == "recovered"
    assert judged("memory_leak", tls).outcome == "not_recovered"
