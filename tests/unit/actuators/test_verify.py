"""Verification stays honest when incidents overlap and when a target goes quiet; recovery needs
consecutive new health summaries, not repeated looks at one."""

from __future__ import annotations

from setpoint.actuators import Verifier
from setpoint.schemas import ActionResult, ServiceHealth, Verification
from tests.unit.conftest import hypothesis, incident, ts

OK = {"error_rate": 0.01, "latency_p99_ms": 100.0, "request_rate": 50.0}


def health(svc: str, t: float, **slis: float) -> ServiceHealth:
    values = {**OK, **slis}
    return ServiceHealth(service=svc, ts=ts(t), anomalous=False, slis=values)


def executed(verb: str, target: str, t: float, inc: str = "inc-1") -> ActionResult:
    return ActionResult(
        action_id=f"a-{verb}",
        command_id=f"a-{verb}",
        incident_id=inc,
        verb=verb,
        target=target,
        status="executed",
        started_at=ts(t),
        finished_at=ts(t),
    )


def warm(v: Verifier, services: list[str], until: float = 1000.0) -> None:
    for t in range(0, int(until), 15):
        for s in services:
            v.on_health(health(s, float(t)))


def run(
    v: Verifier, start: float, end: float, slis: dict[str, dict[str, float]]
) -> list[Verification]:
    out: list[Verification] = []
    for t in range(int(start), int(end), 15):
        for s, values in slis.items():
            v.on_health(health(s, float(t), **values))
        out += v.tick(float(t))
    return out


def test_a_shared_caller_hurt_by_a_newer_unrelated_incident_is_left_out() -> None:
    v = Verifier()
    warm(v, ["checkout", "frontend"])
    v.on_incident(
        incident(
            [
                hypothesis("checkout", "bad_deploy", ["rollback_deploy"]),
                hypothesis("frontend", "unknown", [], rank=2),
            ],
            opened=1000,
        )
    )
    v.on_result(executed("rollback_deploy", "checkout", 1100.0), 1100.0)
    newer = incident(
        [
            hypothesis("catalog", "saturation", ["scale"]),
            hypothesis("frontend", "unknown", [], rank=2),
        ],
        iid="inc-2",
        opened=1150,
    )
    v.on_incident(newer)
    out = run(v, 1200, 1700, {"checkout": {}, "frontend": {"error_rate": 0.4}})
    assert [o.outcome for o in out] == ["recovered"]
    assert "left out, claimed by a newer incident or behind other roots: frontend" in out[0].detail


def test_without_the_newer_incident_the_same_signals_are_not_recovered() -> None:
    v = Verifier()
    warm(v, ["checkout", "frontend"])
    v.on_incident(
        incident(
            [
                hypothesis("checkout", "bad_deploy", ["rollback_deploy"]),
                hypothesis("frontend", "unknown", [], rank=2),
            ],
            opened=1000,
        )
    )
    v.on_result(executed("rollback_deploy", "checkout", 1100.0), 1100.0)
    out = run(v, 1200, 1700, {"checkout": {}, "frontend": {"error_rate": 0.4}})
    assert [o.outcome for o in out] == ["not_recovered"]
    assert "frontend.error_rate 0.4 vs baseline 0.01" in out[0].detail


def test_a_newer_incident_rooted_at_the_target_is_not_an_excuse() -> None:
    v = Verifier()
    warm(v, ["checkout", "frontend"])
    v.on_incident(
        incident(
            [
                hypothesis("checkout", "bad_deploy", ["rollback_deploy"]),
                hypothesis("frontend", "unknown", [], rank=2),
            ],
            opened=1000,
        )
    )
    v.on_result(executed("rollback_deploy", "checkout", 1100.0), 1100.0)
    v.on_incident(
        incident(
            [hypothesis("checkout", "unknown", []), hypothesis("frontend", "unknown", [], rank=2)],
            iid="inc-2",
            opened=1150,
        )
    )
    out = run(v, 1200, 1700, {"checkout": {}, "frontend": {"error_rate": 0.4}})
    assert [o.outcome for o in out] == ["not_recovered"]


def test_a_newer_incident_that_recovered_no_longer_excuses_anything() -> None:
    v = Verifier()
    warm(v, ["checkout", "frontend"])
    v.on_incident(
        incident(
            [
                hypothesis("checkout", "bad_deploy", ["rollback_deploy"]),
                hypothesis("frontend", "unknown", [], rank=2),
            ],
            opened=1000,
        )
    )
    v.on_result(executed("rollback_deploy", "checkout", 1100.0), 1100.0)
    v.on_incident(
        incident(
            [
                hypothesis("catalog", "saturation", ["scale"]),
                hypothesis("frontend", "unknown", [], rank=2),
            ],
            iid="inc-2",
            opened=1150,
            status="recovered",
        )
    )
    out = run(v, 1200, 1700, {"checkout": {}, "frontend": {"error_rate": 0.4}})
    assert [o.outcome for o in out] == ["not_recovered"]


def test_a_target_that_went_quiet_is_not_recovered() -> None:
    # An expired certificate: callers fail the handshake, payments sees no traffic and its own
    # error rate looks perfect.
    v = Verifier()
    warm(v, ["payments", "checkout"])
    v.on_incident(
        incident(
            [
                hypothesis("payments", "expired_certificate", ["renew_certificate"]),
                hypothesis("checkout", "unknown", [], rank=2),
            ],
            opened=1000,
        )
    )
    v.on_result(executed("renew_certificate", "payments", 1100.0), 1100.0)
    quiet = {"payments": {"error_rate": 0.0, "request_rate": 0.0}, "checkout": {}}
    out = run(v, 1100, 1400, quiet)
    assert [o.outcome for o in out] == ["not_recovered"]
    assert "payments went quiet" in out[0].detail


def test_the_quiet_target_recovers_once_its_traffic_is_back() -> None:
    v = Verifier()
    warm(v, ["payments"])
    v.on_incident(
        incident(
            [hypothesis("payments", "expired_certificate", ["renew_certificate"])], opened=1000
        )
    )
    v.on_result(executed("renew_certificate", "payments", 1100.0), 1100.0)
    out = run(v, 1100, 1200, {"payments": {"request_rate": 0.0}})
    out += run(v, 1200, 1300, {"payments": {"request_rate": 45.0}})
    assert [o.outcome for o in out] == ["recovered"]


def test_a_signal_no_longer_measured_does_not_count_as_good() -> None:
    v = Verifier()
    warm(v, ["api"])
    v.on_incident(incident([hypothesis("api", "bad_deploy", ["rollback_deploy"])], opened=1000))
    v.on_result(executed("rollback_deploy", "api", 1100.0), 1100.0)
    out = []
    for t in range(1200, 1700, 15):
        v.on_health(
            ServiceHealth(
                service="api",
                ts=ts(t),
                anomalous=False,
                slis={"error_rate": 0.01, "request_rate": 50.0},
            )
        )
        out += v.tick(float(t))
    assert [o.outcome for o in out] == ["not_recovered"]
    assert "api.latency_p99_ms is no longer measured" in out[0].detail


def test_recovery_needs_new_summaries_not_repeated_looks_at_one() -> None:
    v = Verifier(streak=3)
    warm(v, ["api"])
    v.on_incident(incident([hypothesis("api", "bad_deploy", ["rollback_deploy"])], opened=1000))
    v.on_result(executed("rollback_deploy", "api", 1100.0), 1100.0)
    v.on_health(health("api", 1200.0))
    assert [v.tick(1200.0 + k * 0.5) for k in range(10)] == [[]] * 10
    v.on_health(health("api", 1215.0))
    assert v.tick(1215.0) == []
    v.on_health(health("api", 1230.0))
    assert [o.outcome for o in v.tick(1230.0)] == ["recovered"]


def test_a_traffic_shift_is_judged_on_answers_not_on_the_remaining_region_being_slower() -> None:
    # db's region is down: its callers' calls fail. Shifted, they get answers again from the
    # other region, slower (it serves all of it): the shift worked; a rollback's slowness is not.
    def judged(verb: str) -> str:
        v = Verifier()
        warm(v, ["db"])
        v.on_incident(incident([hypothesis("db", "dependency_outage", [verb])], opened=1000))
        run(v, 1000, 1100, {"db": {"error_rate": 0.4}})
        v.on_result(executed(verb, "db", 1100.0), 1100.0)
        out = run(v, 1100, 1700, {"db": {"latency_p99_ms": 400.0}})
        return str(out[0].outcome)

    assert judged("shift_traffic") == "recovered"
    assert judged("rollback_deploy") == "not_recovered"


def test_a_scaled_out_target_under_its_ceiling_with_busier_callers_is_recovered() -> None:
    # catalog served a surge it could not; scaled, it serves it at 70% saturation (baseline
    # 30%), and frontend's cpu rightly follows the load it can now pass on. Callers are judged
    # on what their users see, resource signals on the target against a ceiling.
    def after_the_scale(catalog: dict[str, float]) -> str:
        v = Verifier(callers={"catalog": ["frontend"], "frontend": []})
        for t in range(0, 1000, 15):
            for svc in ("catalog", "frontend"):
                v.on_health(health(svc, float(t), saturation=0.3, cpu=0.3))
        hyps = [
            hypothesis("catalog", "saturation", ["scale"]),
            hypothesis("frontend", "unknown", []),
        ]
        v.on_incident(incident(hyps, opened=1000))
        run(v, 1000, 1100, {"catalog": {"saturation": 1.0, "cpu": 0.99, "error_rate": 0.3}})
        v.on_result(executed("scale", "catalog", 1100.0), 1100.0)
        out = run(v, 1100, 1600, {"catalog": catalog, "frontend": {"cpu": 0.9}})
        return str(out[0].outcome)

    assert after_the_scale({"saturation": 0.7, "cpu": 0.7}) == "recovered"
    assert after_the_scale({"saturation": 0.97, "cpu": 0.97}) == "not_recovered"


def test_a_signal_that_undid_most_of_its_excursion_is_recovered() -> None:
    def after_the_fix(p99: float) -> str:
        v = Verifier()
        warm(v, ["catalog"])
        v.on_incident(incident([hypothesis("catalog", "saturation", ["scale"])], opened=1000))
        run(v, 1000, 1100, {"catalog": {"latency_p99_ms": 1000.0}})
        v.on_result(executed("scale", "catalog", 1100.0), 1100.0)
        return str(run(v, 1100, 1600, {"catalog": {"latency_p99_ms": p99}})[0].outcome)

    assert after_the_fix(250.0) == "recovered", "from 1000 ms back to 250 (baseline 100)"
    assert after_the_fix(400.0) == "not_recovered"
