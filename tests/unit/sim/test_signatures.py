"""Each fault shows in the telemetry it should, where it should, and its callers see it
attenuated; what is not broken stays quiet."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from setpoint.schemas import ChangeEvent, ChangeType, Event, HealthCheck, LogEvent, TraceSpan
from setpoint.sim.emit import event_time
from setpoint.sim.fleet import Fleet
from setpoint.sim.scenario import Scenario

Metric = Callable[[list[Event], str, str], float]
Logs = Callable[[list[Event], str, str], int]


def _windows(
    sc: Scenario, after: tuple[float, float] = (60, 300)
) -> tuple[Fleet, list[Event], list[Event], list[Event]]:
    """The fleet, then the events of the five minutes before the onset, of a window after it,
    and every event up to the end of that window."""
    fleet = sc.build(seed=11)
    onset = fleet.start + sc.faults()[0].at
    events = fleet.step(onset + after[1])
    before = [e for e in events if onset - 300 <= event_time(e) < onset]
    late = [e for e in events if onset + after[0] <= event_time(e) <= onset + after[1]]
    return fleet, before, late, events


def test_bad_deploy(scenario: Callable[[str], Scenario], metric: Metric, logs: Logs) -> None:
    _fleet, before, after, events = _windows(scenario("bad-deploy"))
    deploys = [e for e in events if isinstance(e, ChangeEvent) and e.change_type == "deploy"]
    assert [(d.service, d.version, d.previous_version) for d in deploys] == [
        ("checkout", "4.2.0", "4.1.3")
    ]
    assert metric(before, "checkout", "error_rate") < 0.03
    assert metric(after, "checkout", "error_rate") > 0.25
    assert metric(after, "checkout", "latency_p50_ms") > 1.15 * metric(
        before, "checkout", "latency_p50_ms"
    )
    assert logs(after, "checkout", "exception") > 50
    front_before, front = (
        metric(before, "frontend", "error_rate"),
        metric(after, "frontend", "error_rate"),
    )
    assert front_before + 0.02 < front < metric(after, "checkout", "error_rate") / 2
    assert logs(after, "frontend", "upstream_error") > 10
    assert (
        abs(metric(after, "payments", "error_rate") - metric(before, "payments", "error_rate"))
        < 0.01
    )


def test_memory_leak_climbs_then_slows_then_hangs(
    scenario: Callable[[str], Scenario], metric: Metric
) -> None:
    sc = scenario("memory-leak")
    fleet = sc.build(seed=11)
    onset = fleet.start + sc.faults()[0].at
    events = fleet.step(onset + 600)

    def window(a: float, b: float) -> list[Event]:
        return [e for e in events if onset + a <= event_time(e) < onset + b]

    memory = [metric(window(a, a + 60), "auth", "memory_mb") for a in range(0, 420, 60)]
    assert memory == sorted(memory)
    assert memory[-1] - memory[0] > 500
    quiet, slow = window(-300, 0), window(360, 420)
    assert metric(slow, "auth", "latency_p50_ms") > 2 * metric(quiet, "auth", "latency_p50_ms")
    assert metric(window(120, 180), "auth", "error_rate") < 0.01
    hung = [e for e in window(450, 600) if isinstance(e, HealthCheck) and e.service == "auth"]
    assert hung
    assert not any(h.ok for h in hung)
    assert metric(window(450, 600), "frontend", "error_rate") > 0.3


def test_saturation(scenario: Callable[[str], Scenario], metric: Metric, logs: Logs) -> None:
    _, before, after, _ = _windows(scenario("saturation"))
    assert metric(before, "catalog", "saturation") < 0.6
    assert metric(after, "catalog", "saturation") > 0.95
    assert metric(after, "catalog", "cpu") > metric(before, "catalog", "cpu") + 0.3
    assert metric(after, "catalog", "request_rate") > 2.5 * metric(
        before, "catalog", "request_rate"
    )
    assert metric(after, "catalog", "latency_p50_ms") > 5 * metric(
        before, "catalog", "latency_p50_ms"
    )
    assert logs(after, "catalog", "overloaded") > 50
    assert metric(after, "inventory", "request_rate") > 2 * metric(
        before, "inventory", "request_rate"
    )
    assert metric(after, "inventory", "saturation") < 0.9


def test_poisoned_cache(scenario: Callable[[str], Scenario], metric: Metric, logs: Logs) -> None:
    _, before, after, _ = _windows(scenario("poisoned-cache"))
    assert 0.25 < metric(after, "catalog", "error_rate") < 0.4
    assert logs(after, "catalog", "cache_corrupt") > 50
    assert logs(before, "catalog", "cache_corrupt") == 0
    assert logs(after, "frontend", "upstream_error") > 10
    assert metric(after, "checkout", "error_rate") < 0.03


def test_expired_certificate(
    scenario: Callable[[str], Scenario], metric: Metric, logs: Logs
) -> None:
    sc = scenario("expired-certificate")
    fleet, before, after, events = _windows(sc)
    onset = fleet.start + sc.faults()[0].at
    warning = [
        e
        for e in events
        if isinstance(e, ChangeEvent) and e.change_type == ChangeType.CERTIFICATE_EXPIRY
    ]
    assert [
        (w.service, w.ts.timestamp(), w.expires_at and w.expires_at.timestamp()) for w in warning
    ] == [("payments", fleet.start, onset)]
    assert logs(after, "checkout", "tls_handshake") > 50
    assert logs(after, "payments", "tls_handshake") == 0
    assert metric(after, "checkout", "error_rate") > 0.6
    assert metric(before, "payments", "request_rate") > 10
    assert metric(after, "payments", "request_rate") < 0.5
    spans = [e for e in after if isinstance(e, TraceSpan) and e.callee == "payments"]
    assert spans
    assert all(s.error for s in spans)


def test_expired_credential(
    scenario: Callable[[str], Scenario], metric: Metric, logs: Logs
) -> None:
    _, before, after, events = _windows(scenario("expired-credential"))
    kinds = Counter(e.change_type for e in events if isinstance(e, ChangeEvent))
    assert kinds == {ChangeType.CREDENTIAL_EXPIRY: 1}
    assert logs(after, "payments", "auth_denied") > 50
    assert metric(after, "payments", "error_rate") > 0.6
    assert metric(after, "db", "request_rate") < 0.9 * metric(before, "db", "request_rate")
    assert metric(after, "db", "error_rate") < 0.01
    assert logs(after, "checkout", "upstream_error") > 10


def test_leaked_credential_is_announced_when_revoked(
    scenario: Callable[[str], Scenario], logs: Logs
) -> None:
    sc = scenario("red-herring-deploy")
    fleet = sc.build(seed=2)
    events = fleet.step(fleet.start + 800)
    changes = [
        (e.service, e.change_type, e.ts.timestamp() - fleet.start)
        for e in events
        if isinstance(e, ChangeEvent)
    ]
    assert changes == [
        ("frontend", ChangeType.DEPLOY, 690.0),
        ("payments", ChangeType.CREDENTIAL_EXPIRY, 750.0),
    ]
    assert (
        logs([e for e in events if event_time(e) > fleet.start + 760], "payments", "auth_denied")
        > 10
    )


def test_dependency_outage(scenario: Callable[[str], Scenario], metric: Metric, logs: Logs) -> None:
    _, before, after, _ = _windows(scenario("dependency-outage"))
    checks = [e for e in after if isinstance(e, HealthCheck) and e.service == "db"]
    failing = {c.instance for c in checks if not c.ok}
    assert failing
    assert all("-us-" in name for name in failing)
    assert all(c.ok for c in checks if "-eu-" in c.instance)
    for caller in ("payments", "inventory"):
        assert logs(after, caller, "upstream_unavailable") > 20
        assert 0.3 < metric(after, caller, "error_rate") < 0.5
    assert metric(after, "db", "request_rate") < 0.6 * metric(before, "db", "request_rate")


def test_novel(scenario: Callable[[str], Scenario], metric: Metric, logs: Logs) -> None:
    _, before, after, _ = _windows(scenario("novel"))
    assert logs(after, "inventory", "clock_skew") > 30
    assert metric(after, "inventory", "error_rate") > 0.15
    assert metric(after, "inventory", "latency_p50_ms") > 1.5 * metric(
        before, "inventory", "latency_p50_ms"
    )


def test_quiet_fleet_stays_quiet(scenario: Callable[[str], Scenario], metric: Metric) -> None:
    sc = scenario("quiet")
    fleet = sc.build(seed=5)
    events = fleet.step(fleet.start + sc.duration_s)
    assert all(e.ok for e in events if isinstance(e, HealthCheck))
    classes = {e.error_class for e in events if isinstance(e, LogEvent) and e.level == "error"}
    assert classes == {"exception", "upstream_error"}
    for name in sc.fleet.services:
        assert metric(events, name, "error_rate") < 0.02
        assert metric(events, name, "saturation") < 0.6
    assert [g["begun"] for g in fleet.ground_truth()] == []
