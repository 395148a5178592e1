"""Telemetry: what producers publish. Metrics, logs, trace spans, change events, health checks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag

from setpoint.schemas.base import (
    Event,
    FiniteFloat,
    Id,
    Labels,
    LongText,
    MetricName,
    ServiceName,
    ShortText,
    Timestamp,
)


class MetricSample(Event):
    """One measurement of one series. The series is ``service/name`` (plus ``instance``)."""

    kind: Literal["metric"] = "metric"
    service: ServiceName
    name: MetricName
    value: FiniteFloat
    ts: Timestamp
    instance: Annotated[str, Field(max_length=128)] = ""
    labels: Labels = Field(default_factory=dict)


class MetricPoint(Event):
    """A measurement inside a :class:`MetricBatch` (the service is the batch's)."""

    name: MetricName
    value: FiniteFloat
    ts: Timestamp
    instance: Annotated[str, Field(max_length=128)] = ""


class MetricBatch(Event):
    """Many measurements of one service in one message (remote-write style; cheaper per point)."""

    kind: Literal["metric_batch"] = "metric_batch"
    service: ServiceName
    points: Annotated[list[MetricPoint], Field(min_length=1, max_length=10000)]


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class LogEvent(Event):
    """One log line. ``error_class`` is the parsed class of an error line (``tls_handshake``...)."""

    kind: Literal["log"] = "log"
    service: ServiceName
    ts: Timestamp
    level: LogLevel
    message: LongText
    error_class: Annotated[str, Field(max_length=64)] | None = None
    instance: Annotated[str, Field(max_length=128)] = ""
    trace_id: Id | None = None


class TraceSpan(Event):
    """A client span: ``caller`` called ``callee``; it took ``duration_ms`` and maybe failed."""

    kind: Literal["span"] = "span"
    trace_id: Id
    span_id: Id
    caller: ServiceName
    callee: ServiceName
    ts: Timestamp
    duration_ms: Annotated[FiniteFloat, Field(ge=0)]
    error: bool = False
    operation: Annotated[str, Field(max_length=256)] = ""


class ChangeType(StrEnum):
    DEPLOY = "deploy"
    CONFIG = "config"
    ROLLBACK = "rollback"
    SCALE = "scale"
    FEATURE_FLAG = "feature_flag"
    CERTIFICATE_EXPIRY = "certificate_expiry"
    CREDENTIAL_EXPIRY = "credential_expiry"
    MAINTENANCE = "maintenance"


class ChangeEvent(Event):
    """A change in flight or a scheduled expiry: what lets detection and diagnosis see context."""

    kind: Literal["change"] = "change"
    change_id: Id
    service: ServiceName
    change_type: ChangeType
    ts: Timestamp
    version: Annotated[str, Field(max_length=128)] | None = None
    previous_version: Annotated[str, Field(max_length=128)] | None = None
    expires_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    author: Annotated[str, Field(max_length=128)] = ""
    summary: ShortText = ""


class HealthCheck(Event):
    """The result of probing one instance of a service."""

    kind: Literal["health"] = "health"
    service: ServiceName
    ts: Timestamp
    ok: bool
    instance: Annotated[str, Field(max_length=128)] = ""
    latency_ms: Annotated[FiniteFloat, Field(ge=0)] | None = None
    detail: ShortText = ""


Telemetry = Annotated[
    MetricSample | MetricBatch | LogEvent | TraceSpan | ChangeEvent | HealthCheck,
    Field(discriminator="kind"),
]


def _metric_kind(v: object) -> str:
    # ``kind`` may be omitted by producers of single samples.
    if isinstance(v, dict):
        return str(v.get("kind", "metric"))
    return str(getattr(v, "kind", "metric"))


MetricMessage = Annotated[
    Annotated[MetricSample, Tag("metric")] | Annotated[MetricBatch, Tag("metric_batch")],
    Discriminator(_metric_kind),
]
"""What the metrics topic carries: one sample or a batch of one service's samples."""
