"""What detection emits: anomalies (firing or resolved) and per-service health summaries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from setpoint.schemas.base import (
    Event,
    FiniteFloat,
    Id,
    MetricName,
    ServiceName,
    ShortText,
    Timestamp,
)

Score = Annotated[FiniteFloat, Field(ge=0.0, le=1.0)]


class SignalKind(StrEnum):
    METRIC = "metric"
    LOG = "log"
    TRACE = "trace"
    HEALTH = "health"


class AnomalousSignal(Event):
    """One series that is out of its normal range, with what normal was."""

    signal: SignalKind = SignalKind.METRIC
    name: MetricName
    value: FiniteFloat
    baseline: FiniteFloat
    score: Score
    direction: Literal["up", "down"]
    onset: Timestamp


class ChangeRef(Event):
    """A change attached to an anomaly as context (it was in flight near the onset)."""

    change_id: Id
    service: ServiceName
    change_type: str
    ts: Timestamp
    version: str | None = None
    previous_version: str | None = None
    expires_at: Timestamp | None = None


class Anomaly(Event):
    """A grouped signal: the anomalous series of one service at one moment.

    ``status`` is ``firing`` while the service is abnormal and ``resolved`` once it recovered.
    ``suppressed`` anomalies are recorded but do not open incidents.
    """

    kind: Literal["anomaly"] = "anomaly"
    anomaly_id: Id
    service: ServiceName
    domain: ServiceName = "default"
    ts: Timestamp
    onset: Timestamp
    status: Literal["firing", "resolved"] = "firing"
    score: Score
    signals: Annotated[list[AnomalousSignal], Field(max_length=256)]
    changes: Annotated[list[ChangeRef], Field(max_length=32)] = Field(default_factory=list)
    suppressed: bool = False
    suppressed_by: Id | None = None
    summary: ShortText = ""


class ServiceHealth(Event):
    """A periodic summary of one service, used by verification (did the SLI recover?)."""

    kind: Literal["service_health"] = "service_health"
    service: ServiceName
    domain: ServiceName = "default"
    ts: Timestamp
    anomalous: bool
    slis: dict[str, FiniteFloat] = Field(default_factory=dict)
    baselines: dict[str, FiniteFloat] = Field(default_factory=dict)
    active: Annotated[list[str], Field(max_length=256)] = Field(default_factory=list)
