"""Ranking root-cause candidates: anomaly strength, read along the dependency graph.

A node's score starts from its own anomaly. Anomalies travel from callee to caller, so:

* a caller's latency or availability shift that a dependency's *own* shift accounts for (the
  dependency moved by as much, in the same unit, the same way) is explained away: the caller is
  a victim, not a cause;
* a node earns the anomaly mass of the dependants it explains (the root explains its callers);
* what callers see of a node (client-side latency, error and latency shifts on their spans)
  counts for it even when its own metrics look fine (a network delay, a code exception);
* a change (deploy, config, certificate or credential expiry) on a node near the onset points
  at it, and so does a dependency that appeared at the onset (it started calling something new).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from setpoint.causal.config import DiagnosisConfig
from setpoint.causal.evidence import NodeEvidence, Signal, change_time
from setpoint.causal.graph import DependencyGraph
from setpoint.causal.metrics import SYMPTOM_KINDS, MetricKind
from setpoint.causal.series import Deviation
from setpoint.schemas import ChangeEvent

__all__ = ["NodeScore", "rank"]


@dataclass
class NodeScore:
    """A candidate root cause and the parts its score is made of (for the evidence list)."""

    node: str
    score: float = 0.0
    own: float = 0.0
    explained: float = 0.0
    """Fraction of its symptoms a dependency accounts for."""
    explained_by: str | None = None
    """The dependency that accounts for them (the node itself: its client-side waiting)."""
    explains: list[tuple[str, float]] = field(default_factory=list)
    """Dependants whose symptoms it accounts for, with the fraction."""
    support: float = 0.0
    edge: float = 0.0
    change: float = 0.0
    change_ref: ChangeEvent | None = None
    new_dependency: str | None = None
    first: bool = False
    """Among the first nodes whose signals moved."""


def rank(
    evidence: Mapping[str, NodeEvidence],
    graph: DependencyGraph,
    config: DiagnosisConfig,
    onset: float,
) -> list[NodeScore]:
    """Every node of ``evidence``, most likely root cause first.

    Examples
    --------
    A callee whose latency rose by as much as its caller's explains the caller:

    >>> from setpoint.causal.evidence import NodeEvidence, Signal
    >>> from setpoint.causal.metrics import classify
    >>> from setpoint.causal.series import Deviation
    >>> def ev(node, z, delta):
    ...     d = Deviation(node, "latency_ms", z, delta, 100.0, False, False, 0.0, 30, 3)
    ...     return NodeEvidence(node, signals=[Signal(d, classify(d.name), math.log1p(z))])
    >>> g = DependencyGraph.from_edges([("web", "api")])
    >>> evidence = {"web": ev("web", 40.0, 500.0), "api": ev("api", 12.0, 480.0)}
    >>> [s.node for s in rank(evidence, g, DiagnosisConfig(), onset=0.0)]
    ['api', 'web']
    >>> [s.node for s in rank(evidence, g, DiagnosisConfig(method="anomaly"), onset=0.0)]
    ['web', 'api']
    """
    scores = {n: NodeScore(n, own=ev.own) for n, ev in evidence.items()}
    if config.method == "pagerank":
        from setpoint.causal.pagerank import pagerank_scores

        for n, v in pagerank_scores(evidence, graph, config).items():
            scores[n].score = v
        return _sorted(scores)
    if config.method == "anomaly":
        for s in scores.values():
            s.score = s.own
        return _sorted(scores)
    _causal_parts(evidence, graph, config, onset, scores)
    for s in scores.values():
        s.score = (
            # What callers see of a node is a symptom like its own signals: both are
            # discounted when its dependencies account for them.
            (s.own + config.edge_weight * s.edge) * (1.0 - config.explained_weight * s.explained)
            + config.support_weight * s.support
            + s.change
            + (config.new_dependency_weight if s.new_dependency else 0.0)
            + (config.onset_weight if s.first else 0.0)
        )
    return _sorted(scores)


def _causal_parts(
    evidence: Mapping[str, NodeEvidence],
    graph: DependencyGraph,
    config: DiagnosisConfig,
    onset: float,
    scores: dict[str, NodeScore],
) -> None:
    """Every part of the causal score but the final sum."""
    for n, ev in evidence.items():
        scores[n].edge = _edge(ev, evidence, graph)
    _explain(evidence, graph, config, scores)
    _shared_infrastructure(evidence, graph, config, scores)
    for n, ev in evidence.items():
        s = scores[n]
        recency, s.change_ref = _change(ev.changes, onset, config)
        if s.change_ref is not None:
            s.change = recency * (config.change_weight + _blast(n, evidence, graph, config))
        s.new_dependency = _new_dependency(n, evidence, graph, onset)
    _mark_first(evidence, scores)


def _sorted(scores: Mapping[str, NodeScore]) -> list[NodeScore]:
    return sorted(scores.values(), key=lambda s: (-s.score, s.node))


_SYMPTOM_MIN = 1.0
"""A symptom moved at least this many robust deviations the bad way (less is a wobble)."""


def _symptoms(ev: NodeEvidence) -> list[Signal]:
    return [
        s
        for s in ev.signals
        if s.traits.kind in SYMPTOM_KINDS and s.badness >= _SYMPTOM_MIN and not s.deviation.idle
    ]


def _explain(
    evidence: Mapping[str, NodeEvidence],
    graph: DependencyGraph,
    config: DiagnosisConfig,
    scores: dict[str, NodeScore],
) -> None:
    """Fill ``explained`` (victims) and ``support`` / ``explains`` (culprits)."""
    index = {(n, s.deviation.name): s.deviation for n, ev in evidence.items() for s in ev.signals}
    for a, ev in evidence.items():
        symptoms = _symptoms(ev)
        total = sum(s.score for s in symptoms)
        if total <= 0:
            continue
        failing = _failing_calls(a, evidence, graph)
        for h in graph.descendants(a, config.explain_depth):
            if h not in evidence:
                continue
            part = sum(s.score * _fraction(s, index.get((h, s.deviation.name))) for s in symptoms)
            if h in failing:
                errors = sum(s.score for s in symptoms if s.traits.kind is not MetricKind.LATENCY)
                part = max(part, errors * failing[h])
            share = part / total
            if share <= 0:
                continue
            scores[h].support += share * scores[a].own
            scores[h].explains.append((a, share))
            if share > scores[a].explained:
                scores[a].explained, scores[a].explained_by = share, h
        client = _client_share(symptoms, ev) / total
        if client > scores[a].explained:
            # Explained by itself: by the time it spends waiting on its own callees.
            scores[a].explained, scores[a].explained_by = client, a


def _failing_calls(
    node: str, evidence: Mapping[str, NodeEvidence], graph: DependencyGraph
) -> dict[str, float]:
    """Callees whose calls from ``node`` started failing, with the share of ``node``'s own
    failures that accounts for: the error increase on its calls out over the error increase its
    callers see on their calls in (all of it when no caller traces it)."""
    seen_in = max((e.error_increase for e in evidence[node].edges_in), default=0.0)
    out: dict[str, float] = {}
    for h in graph.callees(node):
        ev = evidence.get(h)
        shift = next((e for e in ev.edges_in if e.caller == node), None) if ev else None
        if shift is not None and shift.error_increase >= _MATERIAL_ERRORS:
            out[h] = min(1.0, shift.error_increase / seen_in) if seen_in > 0 else 1.0
    return out


_MATERIAL_ERRORS = 0.05
"""An error increase on calls (a fraction of them) worth reading as a failing dependency."""


def _client_share(symptoms: list[Signal], ev: NodeEvidence) -> float:
    """How much of a node's symptoms its own client-side signals account for: time spent
    waiting for its callees, errors of its calls to them (which callee, they do not say).

    Latency against latency in the same unit. Errors: the share of its errors that are about
    calls out (``log_errors:upstream_unavailable`` of ``log_errors``), else deviations against
    deviations."""
    waits = [o.deviation for o in ev.outbound if o.traits.kind is MetricKind.LATENCY]
    failed = [o for o in ev.outbound if o.traits.kind is MetricKind.ERRORS and o.badness > 0]
    out_share = _errors_out_share(failed, ev)
    part = 0.0
    for s in symptoms:
        if s.traits.kind is MetricKind.LATENCY and waits:
            part += s.score * max(_fraction(s, w) for w in waits)
        elif s.traits.kind is not MetricKind.LATENCY and failed:
            part += s.score * out_share
    return part


def _errors_out_share(failed: list[Signal], ev: NodeEvidence) -> float:
    """The share of a node's errors that are failed calls out: counted errors per class
    against their total (``<total>:<class>`` series), or the deviations compared."""
    totals = {s.deviation.name: s.deviation.delta for s in ev.signals}
    by_total: dict[str, float] = {}
    for o in failed:
        total = o.deviation.name.rsplit(":", 1)[0]
        if total != o.deviation.name and totals.get(total, 0.0) > 0:
            by_total[total] = by_total.get(total, 0.0) + max(0.0, o.deviation.delta)
    if by_total:
        return min(1.0, max(v / totals[t] for t, v in by_total.items()))
    worst = max((s.badness for s in ev.signals if s.traits.kind is MetricKind.ERRORS), default=0.0)
    out = max((o.badness for o in failed), default=0.0)
    return min(1.0, out / worst) if worst > 0 else (1.0 if out > 0 else 0.0)


def _shared_infrastructure(
    evidence: Mapping[str, NodeEvidence],
    graph: DependencyGraph,
    config: DiagnosisConfig,
    scores: dict[str, NodeScore],
) -> None:
    """k services on one sick host at once: one shared cause is likelier than k independent
    ones, so the host earns ``1 - 1/k`` of each one's anomaly and explains that much of it.

    Only hosts, and only sick ones (their host-level series moved): a database or a cache
    explains its callers through the series and the calls they share, like any dependency.
    """
    for node in evidence:
        if graph.kind(node) != "host" or scores[node].own < config.sick_own:
            continue
        sick = [d for d in graph.callers(node) if d in scores and scores[d].own >= config.sick_own]
        if len(sick) < 2:
            continue
        share = 1.0 - 1.0 / len(sick)
        for d in sick:
            scores[node].support += share * scores[d].own
            scores[node].explains.append((d, share))
            if share > scores[d].explained:
                scores[d].explained, scores[d].explained_by = share, node


def _fraction(symptom: Signal, dep: Deviation | None) -> float:
    """How much of a symptom's shift the same series of a dependency accounts for (0 to 1)."""
    if dep is None or dep.idle:
        return 0.0
    bad = symptom.traits.bad or (1 if symptom.deviation.delta >= 0 else -1)
    mine, theirs = symptom.deviation.delta * bad, dep.delta * bad
    if mine <= 0 or theirs <= 0:
        return 0.0
    return min(1.0, theirs / mine)


def _edge(ev: NodeEvidence, evidence: Mapping[str, NodeEvidence], graph: DependencyGraph) -> float:
    """What callers see of a node: their span shifts towards it, their client-side signals."""
    traced = max(
        (
            math.log1p(10.0 * e.error_increase + 3.0 * max(0.0, e.latency_ratio - 1.0))
            for e in ev.edges_in
        ),
        default=0.0,
    )
    client = [_outbound(evidence[p]) for p in graph.callers(ev.node) if p in evidence]
    return max(traced, sum(client) / len(client) if client else 0.0)


def _outbound(ev: NodeEvidence) -> float:
    """How badly a node's calls out fail or slow down, by its own account (client-side
    signals, errors it logs about its calls)."""
    logged = math.log1p(max(0.0, ev.logs_out.z)) if ev.logs_out else 0.0
    return max(logged, max((s.score for s in ev.outbound), default=0.0))


def _change(
    changes: list[ChangeEvent], onset: float, config: DiagnosisConfig
) -> tuple[float, ChangeEvent | None]:
    """The most recent change before the onset and its recency (1 at the onset, halving every
    ``change_decay_s`` before it)."""
    best, ref = 0.0, None
    for c in changes:
        w = 0.5 ** (max(0.0, onset - change_time(c)) / config.change_decay_s)
        if w > best and w >= config.change_min_recency:
            best, ref = w, c
    return best, ref


def _blast(
    node: str, evidence: Mapping[str, NodeEvidence], graph: DependencyGraph, config: DiagnosisConfig
) -> float:
    """The worst anomaly a change on ``node`` could have caused: its own or a dependant's.

    A change makes its node the suspect for everything that depends on it, which is why a
    deploy on a quiet service can outrank the loud caller that pages.
    """
    dependants = graph.ancestors(node, config.explain_depth)
    return max([evidence[node].own, *(evidence[a].own for a in dependants if a in evidence)])


def _new_dependency(
    node: str, evidence: Mapping[str, NodeEvidence], graph: DependencyGraph, onset: float
) -> str | None:
    """A callee that was idle before the onset and active after it, or a brand-new edge."""
    for c in graph.callees(node):
        ev = evidence.get(c)
        if ev is not None and ev.idle_before and ev.own > 0:
            return c
        first = graph.edge_first_seen(node, c)
        if first is not None and first >= onset:
            return c
    return None


def _mark_first(evidence: Mapping[str, NodeEvidence], scores: dict[str, NodeScore]) -> None:
    onsets: dict[str, float] = defaultdict(float)
    for n, ev in evidence.items():
        t = ev.first_onset(min_badness=3.0)
        if t is not None:
            onsets[n] = t
    if onsets:
        first = min(onsets.values())
        for n, t in onsets.items():
            scores[n].first = t <= first
