"""Shared fixtures of the fleet tests: the shipped scenarios and small readers of telemetry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from setpoint.schemas import Event, LogEvent, MetricBatch
from setpoint.sim.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


@pytest.fixture(scope="session")
def scenario() -> Callable[[str], Scenario]:
    cache: dict[str, Scenario] = {}

    def get(name: str) -> Scenario:
        if name not in cache:
            cache[name] = load_scenario(SCENARIOS / f"{name}.yaml")
        return cache[name]

    return get


def mean_metric(events: Iterable[Event], service: str, name: str) -> float:
    """Mean of one metric of one service over the batches in ``events`` (NaN if none)."""
    values = [
        p.value
        for e in events
        if isinstance(e, MetricBatch) and e.service == service
        for p in e.points
        if p.name == name
    ]
    return sum(values) / len(values) if values else float("nan")


def error_logs(events: Iterable[Event], service: str, error_class: str) -> int:
    return sum(
        1
        for e in events
        if isinstance(e, LogEvent) and e.service == service and e.error_class == error_class
    )


@pytest.fixture
def metric() -> Callable[[Iterable[Event], str, str], float]:
    return mean_metric


@pytest.fixture
def logs() -> Callable[[Iterable[Event], str, str], int]:
    return error_logs
