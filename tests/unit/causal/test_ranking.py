"""Ranking: anomalies travel from callee to caller, and changes point at what changed."""

from __future__ import annotations

from collections.abc import Callable

from setpoint.causal import DependencyGraph, Diagnoser, DiagnosisConfig
from setpoint.clock import to_datetime
from setpoint.schemas import (
    Anomaly,
    ChangeEvent,
    ChangeType,
    FaultClass,
    ServiceHealth,
    TraceSpan,
)

Feed = Callable[..., None]
MakeAnomaly = Callable[..., Anomaly]


ONSET = 300.0

# web -> api -> db. The database slows down by 400 ms; each caller inherits it (plus a little
# work of its own) and, its latency being steadier than the database's, looks *more* anomalous.
CHAIN = {
    "web": {"latency_ms": (300.0, 740.0), "cpu_pct": (40.0, 41.0)},
    "api": {"latency_ms": (150.0, 560.0), "cpu_pct": (30.0, 30.5)},
    "db": {"latency_ms": (100.0, 500.0, 0.2), "cpu_pct": (20.0, 20.0)},
}


def chain_diagnoser(config: DiagnosisConfig | None = None) -> Diagnoser:
    return Diagnoser(DependencyGraph.from_edges([("web", "api"), ("api", "db")]), config)


def test_a_callee_fault_ranks_above_its_callers(feed: Feed, anomaly: MakeAnomaly) -> None:
    diag = chain_diagnoser()
    feed(diag, CHAIN, ONSET, ONSET + 10)
    incident = diag.on_anomaly(anomaly("web", ONSET, ONSET + 10))[0]
    ranked = [h.service for h in incident.hypotheses]
    assert ranked[:3] == ["db", "api", "web"]
    top = incident.hypotheses[0]
    assert any("accounts for" in e.summary and e.service == "api" for e in top.evidence_for)
    web = incident.hypotheses[2]
    assert any(e.service == "api" for e in web.evidence_against)


def test_without_the_graph_a_louder_caller_wins(feed: Feed, anomaly: MakeAnomaly) -> None:
    # The same data ranked on anomaly strength alone: what the graph's direction corrects.
    diag = chain_diagnoser(DiagnosisConfig(method="anomaly"))
    feed(diag, CHAIN, ONSET, ONSET + 10)
    incident = diag.on_anomaly(anomaly("web", ONSET, ONSET + 10))[0]
    assert [h.service for h in incident.hypotheses] == ["api", "web", "db"]


def test_a_deploy_on_x_points_at_x(feed: Feed, anomaly: MakeAnomaly) -> None:
    # web calls api and cart; only web pages (errors), api and cart wobble equally. A deploy
    # on api one minute before the onset makes api the suspect, with rollback as the action.
    g = DependencyGraph.from_edges([("web", "api"), ("web", "cart")])
    diag = Diagnoser(g)
    series = {
        "web": {"error_rate": (0.01, 0.30)},
        "api": {"latency_ms": (100.0, 104.0)},
        "cart": {"latency_ms": (100.0, 104.0)},
    }
    feed(diag, series, ONSET, ONSET + 10)
    before = diag.on_anomaly(anomaly("web", ONSET, ONSET + 10, names=["error_rate"]))[0]
    assert before.hypotheses[0].service == "web"
    deploy = ChangeEvent(
        change_id="chg-42",
        service="api",
        change_type=ChangeType.DEPLOY,
        ts=to_datetime(ONSET - 60),
        version="v2",
        previous_version="v1",
    )
    after = diag.on_change(deploy)
    assert len(after) == 1
    assert after[0].incident_id == before.incident_id
    assert after[0].revision == before.revision + 1
    top = after[0].hypotheses[0]
    assert (top.service, top.fault_class, top.change_id) == ("api", FaultClass.BAD_DEPLOY, "chg-42")
    assert top.actions == ["rollback_deploy"]
    assert any(e.ref == "chg-42" for e in top.evidence_for)


def test_a_stale_change_does_not_point_anywhere(feed: Feed, anomaly: MakeAnomaly) -> None:
    g = DependencyGraph.from_edges([("web", "api")])
    diag = Diagnoser(g, DiagnosisConfig(change_lookback_s=3600.0))
    diag.on_change(
        ChangeEvent(
            change_id="old", service="api", change_type=ChangeType.DEPLOY, ts=to_datetime(0)
        )
    )
    series = {"web": {"error_rate": (0.01, 0.30)}, "api": {"latency_ms": (100.0, 104.0)}}
    feed(diag, series, 7200.0, 7210.0, start=6900.0)
    incident = diag.on_anomaly(anomaly("web", 7200.0, 7210.0, names=["error_rate"]))[0]
    assert incident.hypotheses[0].service == "web"


def test_a_shared_host_can_be_the_root_cause(feed: Feed, anomaly: MakeAnomaly) -> None:
    g = DependencyGraph.from_edges([("web", "cart"), ("web", "search")])
    g.add_infra("cart", "node-1")
    g.add_infra("search", "node-1")
    diag = Diagnoser(g)
    sick = {"latency_ms": (100.0, 400.0), "node_cpu_pct": (35.0, 99.0)}
    series = {"cart": sick, "search": sick, "web": {"latency_ms": (200.0, 210.0)}}
    feed(diag, series, ONSET, ONSET + 10)
    diag.on_anomaly(anomaly("cart", ONSET, ONSET + 10))
    incident = diag.on_anomaly(anomaly("search", ONSET, ONSET + 10))[0]
    top = incident.hypotheses[0]
    assert top.service == "node-1"
    assert top.fault_class is FaultClass.SATURATION


def test_callers_seeing_errors_on_spans_point_at_the_callee(anomaly: MakeAnomaly) -> None:
    diag = Diagnoser(DependencyGraph())
    for i in range(600):
        t = float(i)
        failing = t >= ONSET
        for caller in ("web", "jobs"):
            diag.on_span(
                TraceSpan(
                    trace_id=f"{caller}{i}",
                    span_id=f"{caller}{i}",
                    caller=caller,
                    callee="auth",
                    ts=to_datetime(t),
                    duration_ms=20.0,
                    error=failing,
                )
            )
    incident = diag.on_anomaly(anomaly("web", ONSET, 599.0))[0]
    top = incident.hypotheses[0]
    assert top.service == "auth"
    assert top.fault_class is FaultClass.DEPENDENCY_OUTAGE
    assert top.actions == ["shift_traffic"]


def test_failing_calls_point_past_the_loud_callers_at_the_database(anomaly: MakeAnomaly) -> None:
    # db's us region is down: half of inventory's and payments' calls to it fail, so *their*
    # error rates jump; db itself only sees less traffic. Their spans say whose fault it is.
    g = DependencyGraph.from_edges([("inventory", "db"), ("payments", "db")])
    diag = Diagnoser(g)
    for i in range(600):
        t = float(i)
        down = t >= ONSET
        series = {
            "inventory": {"error_rate": 0.4 if down else 0.01 + 0.001 * (i % 3)},
            "payments": {"error_rate": 0.45 if down else 0.01 + 0.001 * (i % 4)},
            "db": {"request_rate": 40.0 if down else 80.0 + (i % 5)},
        }
        for svc, slis in series.items():
            diag.on_health(ServiceHealth(service=svc, ts=to_datetime(t), anomalous=down, slis=slis))
        for caller in ("inventory", "payments"):
            span = TraceSpan(
                trace_id=f"{caller}{i}", span_id=f"{caller}{i}", caller=caller, callee="db",
                ts=to_datetime(t), duration_ms=5.0, error=down and i % 2 == 0,
            )  # fmt: skip
            diag.on_span(span)
    diag.on_anomaly(anomaly("inventory", ONSET, 599.0, names=["error_rate"]))
    incident = diag.on_anomaly(anomaly("payments", ONSET, 599.0, names=["error_rate"]))[0]
    top = incident.hypotheses[0]
    assert (top.service, top.fault_class, top.actions) == (
        "db",
        FaultClass.DEPENDENCY_OUTAGE,
        ["shift_traffic"],
    )
    inventory = next(h for h in incident.hypotheses if h.service == "inventory")
    assert any(e.service == "db" for e in inventory.evidence_against)


def test_a_new_error_class_names_the_fault(feed: Feed, anomaly: MakeAnomaly) -> None:
    # The detect stage starts a log_errors:<class> series on the first error of a class: it
    # has no history, and it is what says "poisoned cache".
    g = DependencyGraph.from_edges([("web", "catalog")])
    diag = Diagnoser(g)
    feed(diag, {"catalog": {"error_rate": (0.01, 0.2)}, "web": {"error_rate": (0.01, 0.1)}},
         ONSET, ONSET + 60)  # fmt: skip
    for t in range(int(ONSET), int(ONSET) + 61, 15):
        diag.on_health(
            ServiceHealth(
                service="catalog", ts=to_datetime(t), anomalous=True,
                slis={"log_errors:cache_corrupt": 40.0},
            )
        )  # fmt: skip
    incident = diag.on_anomaly(anomaly("web", ONSET, ONSET + 60, names=["error_rate"]))[0]
    top = incident.hypotheses[0]
    assert (top.service, top.fault_class, top.actions) == (
        "catalog",
        FaultClass.POISONED_CACHE,
        ["flush_cache"],
    )


def test_a_late_alert_still_measures_from_where_the_shift_began(
    feed: Feed, anomaly: MakeAnomaly
) -> None:
    # api slows down at 300; web's alert only fires at 480. Measured from 480, both series look
    # normal (the slow values are in the baseline); the onset is moved back to 300.
    late = ONSET + 180
    diag = chain_diagnoser()
    feed(diag, CHAIN, ONSET, late + 20)
    incident = diag.on_anomaly(anomaly("web", late, late + 20))[0]
    assert incident.hypotheses[0].service == "db"
    top_evidence = incident.hypotheses[0].evidence_for[0]
    assert top_evidence.ts is not None
    assert top_evidence.ts.timestamp() == ONSET

    blind = chain_diagnoser(DiagnosisConfig(onset_search_s=0.0))
    feed(blind, CHAIN, ONSET, late + 20)
    assert blind.on_anomaly(anomaly("web", late, late + 20))[0].hypotheses[:1] != [
        incident.hypotheses[0]
    ]


def test_without_health_history_the_anomalies_speak_for_themselves(anomaly: MakeAnomaly) -> None:
    # A stage wired with anomalies only: detection's judged signals stand in for the series.
    diag = Diagnoser(DependencyGraph.from_edges([("web", "api")]))
    incident = diag.on_anomaly(anomaly("api", ONSET, names=["memory_mb"]))[0]
    top = incident.hypotheses[0]
    assert (top.service, top.fault_class) == ("api", FaultClass.MEMORY_LEAK)


def test_callers_seeing_a_callee_only_slower_is_not_an_outage(anomaly: MakeAnomaly) -> None:
    # The same callers as above, but no call fails: auth is only slower (more load reaching it),
    # which no traffic shift fixes.
    diag = Diagnoser(DependencyGraph())
    for i in range(600):
        t = float(i)
        slow = t >= ONSET
        for caller in ("web", "jobs"):
            ms = 120.0 if slow else 20.0
            sid = f"{caller}{i}"
            at = to_datetime(t)
            diag.on_span(
                TraceSpan(
                    trace_id=sid,
                    span_id=sid,
                    caller=caller,
                    callee="auth",
                    ts=at,
                    duration_ms=ms,
                    error=False,
                )
            )
    incident = diag.on_anomaly(anomaly("web", ONSET, 599.0))[0]
    auth = next(h for h in incident.hypotheses if h.service == "auth")
    assert auth.fault_class is not FaultClass.DEPENDENCY_OUTAGE
    assert "shift_traffic" not in auth.actions
