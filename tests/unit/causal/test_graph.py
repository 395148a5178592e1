"""The dependency graph: spans teach it edges with rates; edges age out when traffic stops."""

from __future__ import annotations

import pytest

from setpoint.causal import DependencyGraph
from setpoint.clock import to_datetime
from setpoint.schemas import TraceSpan


def span(caller: str, callee: str, t: float, error: bool = False, ms: float = 10.0) -> TraceSpan:
    return TraceSpan(
        trace_id=f"t{t}", span_id=f"s{t}{caller}", caller=caller, callee=callee,
        ts=to_datetime(t), duration_ms=ms, error=error,
    )  # fmt: skip


def test_spans_teach_edges_with_call_and_error_rates() -> None:
    g = DependencyGraph(bucket_s=60.0)
    for i in range(120):
        g.observe_span(span("web", "api", float(i), error=i % 4 == 0))
    assert list(g.edges()) == [("web", "api")]
    rate, errors = g.edge_rates("web", "api", now=119.0, window_s=120.0)
    assert rate == pytest.approx(1.0)
    assert errors == pytest.approx(0.25)


def test_learned_edges_age_out_when_traffic_stops_but_declared_edges_stay() -> None:
    g = DependencyGraph.from_edges([("web", "cart")], edge_ttl_s=300.0)
    g.observe_span(span("web", "api", 0.0))
    g.observe_span(span("web", "cart", 0.0))
    assert g.expire(now=200.0) == []
    g.observe_span(span("api", "db", 250.0))
    assert g.expire(now=400.0) == [("web", "api")]
    assert sorted(g.edges()) == [("api", "db"), ("web", "cart")]
    assert g.expire(now=1000.0) == [("api", "db")]
    assert list(g.edges()) == [("web", "cart")]


def test_edge_shift_compares_calls_before_and_after_an_onset() -> None:
    g = DependencyGraph(bucket_s=10.0)
    for i in range(100):
        failing = i >= 60
        g.observe_span(span("web", "api", float(i), error=failing, ms=200.0 if failing else 20.0))
    shift = g.edge_shift("web", "api", onset=60.0, now=100.0)
    assert shift is not None
    assert shift.error_rate_before == 0.0
    assert shift.error_rate_after == 1.0
    assert shift.latency_ratio == pytest.approx(10.0)


def test_telemetry_names_infrastructure() -> None:
    g = DependencyGraph()
    g.observe_span(span("orders", "orders-db", 0.0))
    g.add_infra("orders", "node-7")
    assert g.kind("orders-db") == "database"
    assert g.kind("node-7") == "host"
    assert sorted(g.descendants("orders", 1)) == ["node-7", "orders-db"]


def test_domains_are_connected_components_when_none_is_declared() -> None:
    g = DependencyGraph.from_edges([("a", "b"), ("c", "d")])
    assert g.domains() == {"a": "a", "b": "a", "c": "c", "d": "c"}
    g.add_edge("b", "c")
    assert set(g.domains().values()) == {"default"}


def test_distance_ignores_direction_and_stops_at_max_hops() -> None:
    g = DependencyGraph.from_edges([("a", "b"), ("c", "b"), ("c", "d")])
    assert g.distance("a", "d", max_hops=3) == 3
    assert g.distance("a", "d", max_hops=2) is None
    assert g.distance("a", "zz", max_hops=3) is None
