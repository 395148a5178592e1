"""Shared builders for unit tests: small, valid schema values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from setpoint.schemas import Evidence, Hypothesis, Incident


def ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def hypothesis(
    service: str,
    fault: str,
    actions: list[str],
    rank: int = 1,
    score: float = 0.9,
    change_id: str | None = None,
) -> Hypothesis:
    return Hypothesis(
        rank=rank,
        service=service,
        fault_class=fault,
        score=score,
        actions=actions,
        change_id=change_id,
        evidence_for=[Evidence(kind="anomaly", service=service, summary="it moved", weight=0.5)],
    )


def incident(
    hyps: list[Hypothesis],
    *,
    iid: str = "inc-1",
    opened: float = 1000.0,
    now: float = 1000.0,
    status: str = "open",
    novel: bool = False,
    confidence: float = 0.9,
    domain: str = "default",
) -> Incident:
    return Incident(
        incident_id=iid,
        domain=domain,
        status=status,
        opened_at=ts(opened),
        ts=ts(now),
        services=sorted({h.service for h in hyps}) or ["x"],
        anomaly_ids=["anom-1"],
        hypotheses=hyps,
        confidence=confidence,
        novel=novel,
        summary="test incident",
    )


@pytest.fixture
def key() -> bytes:
    return b"unit-test-key"
