"""Builders for the diagnose stage's inputs: health summaries, anomalies, changes, spans."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from setpoint.causal import Diagnoser
from setpoint.clock import to_datetime
from setpoint.schemas import AnomalousSignal, Anomaly, ServiceHealth

Feed = Callable[..., None]
MakeAnomaly = Callable[..., Anomaly]


@pytest.fixture
def feed() -> Feed:
    """Feed ``diag`` one health summary per second: ``series`` maps each service's metric
    names to ``(normal, faulty)`` or ``(normal, faulty, wobble)``; values turn faulty from
    ``onset`` on. Normal values wobble by ``wobble`` (a fraction, 2% by default)."""

    def _feed(
        diag: Diagnoser,
        series: dict[str, dict[str, tuple[float, ...]]],
        onset: float,
        until: float,
        start: float = 0.0,
    ) -> None:
        t = start
        while t <= until:
            for svc, by_name in series.items():
                slis = {name: _value(spec, t, onset) for name, spec in by_name.items()}
                diag.on_health(
                    ServiceHealth(service=svc, ts=to_datetime(t), anomalous=t >= onset, slis=slis)
                )
            t += 1.0

    return _feed


def _value(spec: tuple[float, ...], t: float, onset: float) -> float:
    good, bad, wobble = (*spec, 0.02) if len(spec) == 2 else spec
    return bad if t >= onset else good * (1.0 + wobble * ((int(t) % 5) - 2))


@pytest.fixture
def anomaly() -> MakeAnomaly:
    """An anomaly of ``service`` (id ``a-<service>`` unless given) with one latency signal."""

    def _make(
        service: str,
        onset: float,
        ts: float | None = None,
        status: str = "firing",
        suppressed: bool = False,
        aid: str | None = None,
        names: Sequence[str] = ("latency_ms",),
    ) -> Anomaly:
        signals = [
            AnomalousSignal(
                name=n, value=900.0, baseline=100.0, score=0.99, direction="up",
                onset=to_datetime(onset),
            )
            for n in names
        ]  # fmt: skip
        return Anomaly(
            anomaly_id=aid or f"a-{service}",
            service=service,
            ts=to_datetime(ts if ts is not None else onset + 5.0),
            onset=to_datetime(onset),
            status="resolved" if status == "resolved" else "firing",
            score=0.99,
            signals=signals,
            suppressed=suppressed,
            suppressed_by="sil-1" if suppressed else None,
        )

    return _make
