"""What diagnosis emits: incidents with ranked root-cause hypotheses and their evidence."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from setpoint.schemas.base import Event, FiniteFloat, Id, ServiceName, ShortText, Timestamp


class FaultClass(StrEnum):
    BAD_DEPLOY = "bad_deploy"
    BAD_CONFIG = "bad_config"
    MEMORY_LEAK = "memory_leak"
    SATURATION = "saturation"
    POISONED_CACHE = "poisoned_cache"
    EXPIRED_CERTIFICATE = "expired_certificate"
    EXPIRED_CREDENTIAL = "expired_credential"
    DEPENDENCY_OUTAGE = "dependency_outage"
    UNKNOWN = "unknown"


class EvidenceKind(StrEnum):
    ANOMALY = "anomaly"
    LOG_BURST = "log_burst"
    TRACE = "trace"
    CHANGE = "change"
    ONSET = "onset"
    TOPOLOGY = "topology"
    HEALTH = "health"


class Evidence(Event):
    """One observation for or against a hypothesis, with where it came from (provenance)."""

    kind: EvidenceKind
    service: ServiceName
    summary: ShortText
    weight: FiniteFloat = 0.0
    ts: Timestamp | None = None
    ref: Id | None = None


class Hypothesis(Event):
    """A candidate root cause: a service (or a change of it) failing in a given fault class."""

    rank: Annotated[int, Field(ge=1)]
    service: ServiceName
    fault_class: FaultClass
    score: Annotated[FiniteFloat, Field(ge=0.0, le=1.0)]
    change_id: Id | None = None
    change_version: Annotated[str, Field(max_length=128)] | None = None
    """The version the suspect change brought (a deploy's), so that what was learned of a
    version holds for every change that brings it back."""
    evidence_for: Annotated[list[Evidence], Field(max_length=64)] = Field(default_factory=list)
    evidence_against: Annotated[list[Evidence], Field(max_length=64)] = Field(default_factory=list)
    actions: Annotated[list[str], Field(max_length=16)] = Field(default_factory=list)


class IncidentStatus(StrEnum):
    OPEN = "open"
    UPDATED = "updated"
    RECOVERED = "recovered"


class Incident(Event):
    """Related anomalies grouped into one incident (one page, one correlation id)."""

    kind: Literal["incident"] = "incident"
    incident_id: Id
    domain: ServiceName = "default"
    status: IncidentStatus
    revision: Annotated[int, Field(ge=0)] = 0
    opened_at: Timestamp
    ts: Timestamp
    services: Annotated[list[ServiceName], Field(max_length=1024)]
    anomaly_ids: Annotated[list[Id], Field(max_length=4096)]
    hypotheses: Annotated[list[Hypothesis], Field(max_length=32)]
    confidence: Annotated[FiniteFloat, Field(ge=0.0, le=1.0)]
    novel: bool = False
    summary: ShortText = ""
