"""From a ranked candidate to a hypothesis: which fault class it is, the evidence for and against
it (with provenance), and the verbs that would address it."""

from __future__ import annotations

import re

from setpoint.causal.evidence import NodeEvidence, Signal
from setpoint.causal.graph import DependencyGraph
from setpoint.causal.metrics import MetricKind
from setpoint.causal.ranking import NodeScore
from setpoint.clock import to_datetime
from setpoint.schemas import ChangeEvent, ChangeType, Evidence, EvidenceKind, FaultClass, Verb

__all__ = [
    "ACTIONS",
    "evidence_against",
    "evidence_for",
    "fault_class",
    "log_class_fault",
    "score_to_unit",
]

ACTIONS: dict[FaultClass, tuple[Verb, ...]] = {
    FaultClass.BAD_DEPLOY: (Verb.ROLLBACK_DEPLOY,),
    # A config change rolls back through the same path as a deploy (GitOps revert).
    FaultClass.BAD_CONFIG: (Verb.ROLLBACK_DEPLOY,),
    FaultClass.MEMORY_LEAK: (Verb.RESTART,),
    FaultClass.SATURATION: (Verb.SCALE,),
    FaultClass.POISONED_CACHE: (Verb.FLUSH_CACHE,),
    FaultClass.EXPIRED_CERTIFICATE: (Verb.RENEW_CERTIFICATE,),
    FaultClass.EXPIRED_CREDENTIAL: (Verb.ROTATE_CREDENTIAL,),
    FaultClass.DEPENDENCY_OUTAGE: (Verb.SHIFT_TRAFFIC,),
    FaultClass.UNKNOWN: (Verb.ESCALATE,),
}
"""The verbs that address each fault class (``unknown`` always escalates)."""

_CHANGE_CLASS = {
    ChangeType.DEPLOY: FaultClass.BAD_DEPLOY,
    ChangeType.ROLLBACK: FaultClass.BAD_DEPLOY,
    ChangeType.FEATURE_FLAG: FaultClass.BAD_DEPLOY,
    ChangeType.CONFIG: FaultClass.BAD_CONFIG,
    ChangeType.CERTIFICATE_EXPIRY: FaultClass.EXPIRED_CERTIFICATE,
    ChangeType.CREDENTIAL_EXPIRY: FaultClass.EXPIRED_CREDENTIAL,
}
_LOG_CLASS: tuple[tuple[FaultClass, re.Pattern[str]], ...] = (
    (FaultClass.EXPIRED_CERTIFICATE, re.compile(r"tls|ssl|cert|x509|handshake")),
    (FaultClass.EXPIRED_CREDENTIAL, re.compile(r"auth|credential|401|403|permission|token|denied")),
    (FaultClass.POISONED_CACHE, re.compile(r"cache|stale|poison|corrupt")),
    (FaultClass.MEMORY_LEAK, re.compile(r"oom|out.?of.?memory|heap")),
    (FaultClass.SATURATION, re.compile(r"overload|queue.?full|throttl|too.?many")),
)
_INFRA_OUTAGE = {"database", "queue", "external"}
_MATERIAL = 0.1
_FAILING = 0.05
"""An error increase on the calls to a service (a share of them) that reads as calls failing."""
"""Explained fractions worth listing as evidence."""
_NOTABLE = 2.0
"""Deviations (in robust standard deviations) worth listing as evidence."""


def score_to_unit(score: float) -> float:
    """Map a ranking score (0 to unbounded) into [0, 1): 2.0, a clear anomaly, maps to 0.5."""
    return max(0.0, score) / (max(0.0, score) + 2.0)


def fault_class(s: NodeScore, ev: NodeEvidence, graph: DependencyGraph) -> FaultClass:
    """The fault class the evidence of a candidate points at (``unknown`` when nothing fits).

    Changes decide first (a deploy right before the onset is the usual suspect), then the error
    classes of the log burst, then what the node is and which of its signals moved.
    """
    if s.change_ref is not None and s.change_ref.change_type in _CHANGE_CLASS:
        return _CHANGE_CLASS[s.change_ref.change_type]
    for cls in _log_classes(ev):
        hit = log_class_fault(cls)
        if hit is not None:
            return hit
    kinds = {sig.traits.kind for sig in _strong(ev.signals)}
    node_kind = graph.kind(s.node)
    if node_kind == "cache" and kinds & {MetricKind.ERRORS, MetricKind.AVAILABILITY}:
        return FaultClass.POISONED_CACHE
    failing = _calls_fail(ev)
    if node_kind in _INFRA_OUTAGE and s.edge > 1.0 and failing:
        # A database, queue or external service its callers see failing: an outage to route
        # around (one that only looks odd from inside, its callers unharmed, is not; nor is one
        # its callers only see slower: more load reaching it is not a region down).
        return FaultClass.DEPENDENCY_OUTAGE
    strong = _strong([*ev.signals, *ev.host])
    if any(s.traits.kind is MetricKind.MEMORY and s.deviation.delta > 0 for s in strong[:3]):
        return FaultClass.MEMORY_LEAK
    rising = {s.traits.kind for s in strong if s.deviation.delta > 0}
    if MetricKind.CPU in rising or {MetricKind.TRAFFIC, MetricKind.LATENCY} <= rising:
        return FaultClass.SATURATION
    if s.own < 1.0 and s.edge > 1.0 and failing:
        # Its callers see it failing while it looks healthy from inside: it is unreachable.
        return FaultClass.DEPENDENCY_OUTAGE
    return FaultClass.UNKNOWN


def log_class_fault(error_class: str) -> FaultClass | None:
    """The fault class an error-log class names, if any (``tls_handshake``: an expired
    certificate).

    Examples
    --------
    >>> log_class_fault("tls_handshake").value, log_class_fault("exception")
    ('expired_certificate', None)
    """
    low = error_class.lower()
    return next((fc for fc, pat in _LOG_CLASS if pat.search(low)), None)


def _calls_fail(ev: NodeEvidence) -> bool:
    """Whether calls to it started failing (traced by a caller): what an unreachable region looks
    like from outside, as opposed to calls that only got slower."""
    return any(e.error_increase >= _FAILING for e in ev.edges_in)


def _log_classes(ev: NodeEvidence) -> list[str]:
    """Error classes bursting in its logs: from the log book, or from the per-class error-log
    series the detect stage keeps (``log_errors:<class>``)."""
    out = [cls for cls, _ in ev.logs.classes] if ev.logs and ev.logs.z > 3.0 else []
    out += [
        s.deviation.name.split(":", 1)[1]
        for s in _strong(ev.signals)
        if s.deviation.name.startswith("log_errors:")
    ]
    return out


def _strong(signals: list[Signal]) -> list[Signal]:
    return [sig for sig in signals if sig.badness >= 3.0]


def evidence_for(s: NodeScore, ev: NodeEvidence) -> list[Evidence]:
    """What supports the candidate, strongest first, each with where it came from."""
    out: list[Evidence] = []
    if s.change_ref is not None:
        out.append(_change_evidence(s.change_ref, s.change))
    out.extend(_observed(s, ev))
    out.extend(_topological(s))
    return out[:64]


def _observed(s: NodeScore, ev: NodeEvidence) -> list[Evidence]:
    """Its own signals, its log burst, its callers' spans."""
    out = [_signal_evidence(sig) for sig in ev.signals if sig.badness >= _NOTABLE][:4]
    out += [_signal_evidence(sig, "host ") for sig in ev.host if sig.badness >= _NOTABLE][:2]
    if ev.logs is not None and ev.logs.z > 3.0:
        classes = ", ".join(f"{c} x{n}" for c, n in ev.logs.classes)
        summary = f"{ev.logs.count} error logs vs {ev.logs.expected:.1f} expected ({classes})"
        out.append(_ev(EvidenceKind.LOG_BURST, ev.node, summary, ev.logs.z))
    material = [e for e in ev.edges_in if e.error_increase >= 0.05 or e.latency_ratio >= 1.2]
    for shift in material[:4]:
        summary = (
            f"calls {shift.caller} -> {shift.callee}: errors {shift.error_rate_before:.0%} -> "
            f"{shift.error_rate_after:.0%}, latency x{shift.latency_ratio:.1f}"
        )
        out.append(_ev(EvidenceKind.TRACE, shift.caller, summary, s.edge))
    return out


def _topological(s: NodeScore) -> list[Evidence]:
    """What the graph says: whom it explains, what it started calling, whether it moved first."""
    out = [
        _ev(
            EvidenceKind.TOPOLOGY,
            dependant,
            f"accounts for {share:.0%} of the symptom shift of {dependant}, which depends on it",
            share,
        )
        for dependant, share in sorted(_strongest(s.explains).items(), key=lambda p: -p[1])[:4]
        if share >= _MATERIAL
    ]
    if s.new_dependency is not None:
        summary = f"started calling {s.new_dependency} at the onset"
        out.append(_ev(EvidenceKind.TOPOLOGY, s.new_dependency, summary, 1.0))
    if s.first:
        out.append(_ev(EvidenceKind.ONSET, s.node, "among the first services to move", 1.0))
    return out


def _strongest(pairs: list[tuple[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, share in pairs:
        out[name] = max(share, out.get(name, 0.0))
    return out


def _ev(kind: EvidenceKind, service: str, summary: str, weight: float) -> Evidence:
    return Evidence(kind=kind, service=service, summary=summary[:1024], weight=weight)


def evidence_against(s: NodeScore, ev: NodeEvidence) -> list[Evidence]:
    """What speaks against the candidate: its symptoms are explained by a dependency, or it
    shows nothing of its own."""
    out: list[Evidence] = []
    if s.explained_by is not None and s.explained >= _MATERIAL:
        by = (
            "time waiting on its callees (client side)"
            if s.explained_by == s.node
            else f"its dependency {s.explained_by}"
        )
        summary = f"{s.explained:.0%} of its symptom shift is accounted for by {by}"
        out.append(
            Evidence(
                kind=EvidenceKind.TOPOLOGY,
                service=s.explained_by,
                summary=summary,
                weight=s.explained,
            )
        )
    if s.own < 1.0:
        summary = "its own signals barely moved"
        out.append(
            Evidence(kind=EvidenceKind.ANOMALY, service=ev.node, summary=summary, weight=s.own)
        )
    return out


def _signal_evidence(sig: Signal, prefix: str = "") -> Evidence:
    d = sig.deviation
    summary = (
        f"{prefix}{d.name} {d.z:+.1f} sd ({d.baseline:.4g} -> {d.baseline + d.delta:.4g})"
        f"{' from a constant baseline' if d.flat else ''}"
    )
    return Evidence(
        kind=EvidenceKind.ANOMALY,
        service=d.service,
        summary=summary[:1024],
        weight=sig.score,
        ts=to_datetime(d.onset),
    )


def _change_evidence(c: ChangeEvent, weight: float) -> Evidence:
    what = f"{c.change_type}"
    if c.version:
        what += f" {c.previous_version or '?'} -> {c.version}"
    if c.expires_at is not None:
        what += f" expiring {c.expires_at.isoformat()}"
    return Evidence(
        kind=EvidenceKind.CHANGE,
        service=c.service,
        summary=f"{what} ({c.change_id})"[:1024],
        weight=weight,
        ts=c.ts,
        ref=c.change_id,
    )
