"""Deviations rebuilt from the detect stage's health outputs."""

from __future__ import annotations

import pytest

from setpoint.causal import SeriesStore, classify
from setpoint.causal.metrics import MetricKind


def store_with(values: list[float], name: str = "latency_ms", **params: float) -> SeriesStore:
    store = SeriesStore(**params)  # type: ignore[arg-type]
    for t, v in enumerate(values):
        store.add("api", name, float(t), v)
    return store


def test_a_sustained_shift_is_measured_from_the_baseline() -> None:
    base = [100.0, 102.0, 98.0, 101.0, 99.0] * 6
    d = store_with([*base, 150.0, 152.0, 151.0]).deviation("api", "latency_ms", onset=30.0)
    assert d is not None
    assert d.baseline == pytest.approx(100.0)
    assert d.delta == pytest.approx(51.0)
    assert d.z > 10
    assert d.onset == 30.0
    assert (d.n_before, d.n_after) == (30, 3)


def test_a_single_spike_is_not_a_shift() -> None:
    base = [100.0, 102.0, 98.0, 101.0, 99.0] * 6
    spike = store_with([*base, 400.0, 100.0, 101.0]).deviation("api", "latency_ms", onset=30.0)
    held = store_with([*base, 400.0, 390.0, 101.0]).deviation("api", "latency_ms", onset=30.0)
    assert spike is not None
    assert held is not None
    assert abs(spike.z) < 2 < 50 < held.z
    once = store_with([*base, 100.0, 400.0], persistence=1).deviation("api", "latency_ms", 30.0)
    assert once is not None
    assert once.z == pytest.approx(60.0)


def test_a_change_from_a_constant_is_capped_and_a_start_from_zero_is_idle() -> None:
    flat = store_with([100.0] * 30 + [97.0, 97.0], "availability").deviation(
        "api", "availability", 30.0
    )
    idle = store_with([0.0] * 30 + [5.0, 5.0], "requests").deviation("api", "requests", 30.0)
    assert flat is not None
    assert idle is not None
    assert (flat.flat, flat.idle, flat.z) == (True, False, -10.0)
    assert (idle.idle, idle.z) == (True, 10.0)


def test_too_little_history_measures_nothing() -> None:
    assert store_with([1.0, 2.0, 9.0]).deviation("api", "latency_ms", onset=2.0) is None
    assert store_with([1.0] * 10).deviation("api", "latency_ms", onset=50.0) is None


def test_history_is_bounded() -> None:
    store = store_with([float(i) for i in range(100)], max_points=10)
    d = store.deviation("api", "latency_ms", onset=95.0)
    assert d is not None
    assert d.n_before == 5


@pytest.mark.parametrize(
    ("name", "kind", "bad", "outbound", "host"),
    [
        ("PodServerLatencyP90(s)", MetricKind.LATENCY, 1, False, False),
        ("PodClientLatencyP90(s)", MetricKind.LATENCY, 1, True, False),
        ("availability|Average", MetricKind.AVAILABILITY, -1, False, False),
        ("http_5xx_total", MetricKind.ERRORS, 1, False, False),
        ("NodeCpuUsageRate(%)", MetricKind.CPU, 1, False, True),
        ("mem", MetricKind.MEMORY, 1, False, False),
        ("requests|Sum", MetricKind.TRAFFIC, 0, False, False),
        ("queue_depth", MetricKind.OTHER, 0, False, False),
    ],
)
def test_metric_names_say_their_kind(
    name: str, kind: MetricKind, bad: int, outbound: bool, host: bool
) -> None:
    t = classify(name)
    assert (t.kind, t.bad, t.outbound, t.host_level) == (kind, bad, outbound, host)
