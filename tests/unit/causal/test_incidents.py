"""Incidents: related anomalies share one id and revise it; recovery closes it; the unknown
escalates."""

from __future__ import annotations

from collections.abc import Callable

from setpoint.causal import DependencyGraph, Diagnoser, DiagnosisConfig
from setpoint.schemas import Anomaly, FaultClass, IncidentStatus

Feed = Callable[..., None]
MakeAnomaly = Callable[..., Anomaly]


def shop() -> DependencyGraph:
    # Two unrelated systems: the shop and, in its own component, the billing batch.
    return DependencyGraph.from_edges([("web", "api"), ("api", "db"), ("batch", "ledger")])


def test_related_anomalies_close_in_time_become_one_incident(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop())
    first = diag.on_anomaly(anomaly("web", 100.0))
    second = diag.on_anomaly(anomaly("db", 130.0))
    assert [i.status for i in first] == [IncidentStatus.OPEN]
    assert [i.status for i in second] == [IncidentStatus.UPDATED]
    assert second[0].incident_id == first[0].incident_id
    assert second[0].revision == first[0].revision + 1
    assert second[0].services == ["db", "web"]
    assert sorted(second[0].anomaly_ids) == ["a-db", "a-web"]


def test_unrelated_anomalies_become_two_incidents(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop())
    web = diag.on_anomaly(anomaly("web", 100.0))[0]
    batch = diag.on_anomaly(anomaly("batch", 110.0))[0]
    assert batch.status is IncidentStatus.OPEN
    assert batch.incident_id != web.incident_id
    assert batch.domain != web.domain


def test_related_but_far_apart_in_time_become_two_incidents(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop(), DiagnosisConfig(join_window_s=600.0))
    web = diag.on_anomaly(anomaly("web", 100.0))[0]
    later = diag.on_anomaly(anomaly("api", 100.0 + 3600.0))[0]
    assert later.incident_id != web.incident_id


def test_an_incident_that_never_closes_does_not_swallow_a_later_fault(
    anomaly: MakeAnomaly,
) -> None:
    # web's trouble goes on (its anomalies keep firing, joining as they come); twenty minutes
    # after it began, api, quiet so far, starts failing: that is a fault of its own.
    diag = Diagnoser(shop(), DiagnosisConfig(join_window_s=600.0))
    web = diag.on_anomaly(anomaly("web", 100.0))[0]
    for k, onset in enumerate((650.0, 1150.0)):
        again = diag.on_anomaly(anomaly("web", onset, aid=f"a-web-{k}"))[0]
        assert again.incident_id == web.incident_id
    late = diag.on_anomaly(anomaly("api", 1300.0))[0]
    assert late.status is IncidentStatus.OPEN and late.incident_id != web.incident_id
    still = diag.on_anomaly(anomaly("web", 1400.0, aid="a-web-3"))[0]
    assert still.incident_id == web.incident_id, "its own service, still firing, goes on"


def test_suppressed_anomalies_never_open_incidents(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop())
    assert diag.on_anomaly(anomaly("web", 100.0, suppressed=True)) == []
    assert diag.incidents() == []


def test_the_incident_closes_when_every_signal_stayed_recovered(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop(), DiagnosisConfig(recovery_hold_s=120.0))
    opened = diag.on_anomaly(anomaly("web", 100.0))[0]
    diag.on_anomaly(anomaly("api", 110.0))
    one = diag.on_anomaly(anomaly("web", 100.0, ts=400.0, status="resolved"))
    assert [i.status for i in one] == [IncidentStatus.UPDATED]
    calm = diag.on_anomaly(anomaly("api", 110.0, ts=420.0, status="resolved"))[0]
    assert calm.status is IncidentStatus.UPDATED
    assert diag.tick(500.0) == []
    closed = diag.tick(545.0)
    assert [(i.incident_id, i.status, i.revision) for i in closed] == [
        (opened.incident_id, IncidentStatus.RECOVERED, 4)
    ]
    # A new episode of a recovered service opens a new incident.
    again = diag.on_anomaly(anomaly("web", 600.0, ts=605.0, aid="a-web-2"))[0]
    assert again.status is IncidentStatus.OPEN
    assert again.incident_id != opened.incident_id


def test_a_signal_that_flaps_stays_in_its_incident(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop(), DiagnosisConfig(recovery_hold_s=120.0))
    opened = diag.on_anomaly(anomaly("web", 100.0))[0]
    diag.on_anomaly(anomaly("web", 100.0, ts=150.0, status="resolved"))
    refire = diag.on_anomaly(anomaly("web", 170.0, ts=175.0, aid="a-web-2"))[0]
    assert refire.incident_id == opened.incident_id
    assert refire.status is IncidentStatus.UPDATED
    assert diag.tick(400.0) == []


def test_quiet_incidents_close_on_tick(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop(), DiagnosisConfig(quiet_close_s=600.0))
    opened = diag.open_incident(onset=100.0, now=100.0, services=["web"], reason="SLO burn")
    assert diag.tick(200.0) == []
    closed = diag.tick(800.0)
    assert [(i.incident_id, i.status) for i in closed] == [
        (opened.incident_id, IncidentStatus.RECOVERED)
    ]


def test_an_unexplained_anomaly_is_novel_and_escalates(feed: Feed, anomaly: MakeAnomaly) -> None:
    # api's queue depth climbs: no change, no log, no resource, nothing known explains it.
    diag = Diagnoser(shop())
    feed(diag, {"api": {"queue_depth": (10.0, 90.0)}}, 300.0, 310.0)
    incident = diag.on_anomaly(anomaly("api", 300.0, 310.0, names=["queue_depth"]))[0]
    top = incident.hypotheses[0]
    assert top.service == "api"
    assert top.fault_class is FaultClass.UNKNOWN
    assert top.actions == ["escalate"]
    assert incident.novel
    assert "escalate" in incident.summary


def test_a_known_fault_is_not_novel(feed: Feed, anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(shop())
    feed(diag, {"api": {"memory_mb": (500.0, 1900.0), "latency_ms": (100.0, 300.0)}}, 300.0, 310.0)
    incident = diag.on_anomaly(anomaly("api", 300.0, 310.0))[0]
    top = incident.hypotheses[0]
    assert (top.service, top.fault_class, top.actions) == (
        "api",
        FaultClass.MEMORY_LEAK,
        ["restart"],
    )
    assert not incident.novel
    assert incident.confidence >= DiagnosisConfig().novel_below


def test_a_close_race_is_novel(feed: Feed, anomaly: MakeAnomaly) -> None:
    # api and db leak memory alike (memory does not travel along calls, so neither explains
    # the other): two equally good stories, not enough to act on one of them.
    diag = Diagnoser(shop())
    leak = {"memory_mb": (500.0, 750.0, 0.01)}
    feed(diag, {"api": leak, "db": leak}, 300.0, 310.0)
    diag.on_anomaly(anomaly("api", 300.0, 310.0, names=["memory_mb"]))
    incident = diag.on_anomaly(anomaly("db", 300.0, 310.0, names=["memory_mb"]))[0]
    assert {h.service for h in incident.hypotheses[:2]} == {"api", "db"}
    assert incident.hypotheses[0].fault_class is FaultClass.MEMORY_LEAK
    assert incident.confidence < DiagnosisConfig().novel_below
    assert incident.novel
