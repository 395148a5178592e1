"""The one topic table: every topic of the pipeline, its payload, key, partitions, producer and
consumer. Read this file to see the whole data flow.

Keys: telemetry is keyed by **service**, so one worker owns all the series of a service (that is
what lets detection group a service's anomalies into one signal). Everything after detection is
keyed by **domain** (a failure domain of the topology; ``default`` when the topology declares
none), so one worker owns every incident, in-flight action and verification of a domain: the
blast-radius accounting of a domain is then exact, without a distributed lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from setpoint import schemas as s


@dataclass(frozen=True)
class TopicSpec:
    name: str
    payload: Any
    """A pydantic model or an annotated union (validated with a ``TypeAdapter``)."""
    key: str
    producer: str
    consumer: str
    partitions: int | None = None
    """``None``: the ``partitions`` setting."""
    compacted: bool = False
    retention_ms: int | None = None
    max_message_bytes: int | None = None


METRICS = TopicSpec("telemetry.metrics", s.MetricMessage, "service", "producers, sim", "detect")
LOGS = TopicSpec("telemetry.logs", s.LogEvent, "service", "producers, sim", "detect")
TRACES = TopicSpec("telemetry.traces", s.TraceSpan, "caller", "producers, sim", "detect")
CHANGES = TopicSpec(
    "telemetry.changes", s.ChangeEvent, "service", "producers, sim, CI/CD", "detect, diagnose"
)
HEALTHCHECKS = TopicSpec("telemetry.health", s.HealthCheck, "service", "producers, sim", "detect")
SILENCES = TopicSpec(
    "control.silences", s.Silence, "service", "setpoint silence, users", "detect", compacted=True
)
CONTROL = TopicSpec(
    "control.epoch",
    s.ControlEvent,
    "action:agent|verb|scope (compaction keeps the latest of each kind of each subject)",
    "setpoint freeze/unfreeze/revoke/restore",
    "decide, execute",
    partitions=1,
    compacted=True,
)
TRUST = TopicSpec(
    "control.trust",
    s.TrustRecord,
    "agent|verb|scope",
    "decide",
    "decide (read back at start), setpoint trust show",
    partitions=1,
    compacted=True,
)
ANOMALIES = TopicSpec("anomalies", s.Anomaly, "domain", "detect", "diagnose")
HEALTH = TopicSpec("service-health", s.ServiceHealth, "domain", "detect", "verify")
INCIDENTS = TopicSpec("incidents", s.Incident, "domain", "diagnose", "decide")
APPROVALS = TopicSpec("approvals", s.ApprovalRequest, "domain", "decide", "setpoint approvals")
APPROVAL_DECISIONS = TopicSpec(
    "approval-decisions", s.ApprovalDecision, "domain", "setpoint approvals, HTTP", "decide"
)
COMMANDS = TopicSpec("commands", s.Command, "domain", "decide", "execute (the actuator)")
RESULTS = TopicSpec("action-results", s.ActionResult, "domain", "execute", "verify, decide")
VERIFICATIONS = TopicSpec("verifications", s.Verification, "domain", "verify", "decide")
ESCALATIONS = TopicSpec("escalations", s.Escalation, "domain", "decide, verify", "humans, webhook")
EXECUTIONS = TopicSpec(
    "actuator.executions",
    s.ExecutionEntry,
    "idempotency_key",
    "execute (before and after acting)",
    "execute (every actuator: what already ran, wherever a partition moves)",
    partitions=1,
    compacted=True,
)
STATE_DETECT = TopicSpec(
    "state.detect",
    bytes,
    "detect:<service> (on the partition the service's telemetry is on)",
    "detect (checkpoints)",
    "detect (the worker that takes a partition over)",
    compacted=True,
    max_message_bytes=8 * 1024 * 1024,
)
STATE_DOMAINS = TopicSpec(
    "state.domains",
    bytes,
    "diagnose|decide|verify:<domain> (on the partition the domain's events are on)",
    "diagnose, decide, verify (checkpoints)",
    "diagnose, decide, verify (the worker that takes a partition over)",
    compacted=True,
    max_message_bytes=8 * 1024 * 1024,
)
LEDGER = TopicSpec("ledger", s.LedgerEvent, "incident_id", "every stage", "record (ledger sink)")
DEADLETTER = TopicSpec("deadletter", s.DeadLetter, "topic", "every stage", "record, humans")

TOPICS: tuple[TopicSpec, ...] = (
    METRICS,
    LOGS,
    TRACES,
    CHANGES,
    HEALTHCHECKS,
    SILENCES,
    CONTROL,
    TRUST,
    ANOMALIES,
    HEALTH,
    INCIDENTS,
    APPROVALS,
    APPROVAL_DECISIONS,
    COMMANDS,
    RESULTS,
    VERIFICATIONS,
    ESCALATIONS,
    STATE_DETECT,
    STATE_DOMAINS,
    EXECUTIONS,
    LEDGER,
    DEADLETTER,
)

_ADAPTERS: dict[str, TypeAdapter[Any]] = {t.name: TypeAdapter(t.payload) for t in TOPICS}


def adapter(spec: TopicSpec) -> TypeAdapter[Any]:
    """The validator of a topic's payload."""
    return _ADAPTERS[spec.name]


def json_schema_for(spec: TopicSpec) -> dict[str, Any]:
    schema = adapter(spec).json_schema()
    schema["$id"] = f"setpoint:{spec.name}:v{s.SCHEMA_VERSION}"
    schema["description"] = (
        f"Topic {spec.name}: key {spec.key}; produced by {spec.producer}; consumed by "
        f"{spec.consumer}."
    )
    return schema


def full_name(prefix: str, spec: TopicSpec) -> str:
    return f"{prefix}{spec.name}"
