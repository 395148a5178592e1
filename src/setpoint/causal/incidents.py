"""Incident state and the pieces the diagnoser assembles an ``Incident`` from: membership,
scope, hypotheses and the confidence that decides whether the engine may act."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from setpoint.causal.config import DiagnosisConfig
from setpoint.causal.evidence import NodeEvidence
from setpoint.causal.faults import (
    ACTIONS,
    evidence_against,
    evidence_for,
    fault_class,
    score_to_unit,
)
from setpoint.causal.graph import DependencyGraph
from setpoint.causal.ranking import NodeScore
from setpoint.schemas import FaultClass, Hypothesis, IncidentStatus

__all__ = ["IncidentState", "Member", "confidence", "hypotheses"]


@dataclass
class Member:
    """One anomaly (one service's episode) inside an incident."""

    anomaly_id: str
    service: str
    onset: float
    firing: bool = True


@dataclass
class IncidentState:
    """What the diagnoser remembers of one incident between revisions."""

    incident_id: str
    domain: str
    opened_at: float
    onset: float
    """When it started: its first alert's onset, or earlier where its signals say so."""
    members: dict[str, Member] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)
    """Services named when the incident was opened from outside (an alert, a page)."""
    whole_graph: bool = False
    """Opened without services: every known node is in scope."""
    revision: int = -1
    status: IncidentStatus = IncidentStatus.OPEN
    last_news: float = 0.0
    first_alert: float = math.inf
    """The earliest onset among its anomalies, as detection reported them."""
    searched: int = -1
    """How many members it had when its change point was last searched."""
    calm_since: float | None = None
    """When its last firing anomaly resolved (it closes if none fires again for a while)."""
    last_diagnosed: float = -math.inf
    dirty: bool = True
    ranking: list[NodeScore] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.status is IncidentStatus.RECOVERED

    def services(self) -> set[str]:
        return {m.service for m in self.members.values()} | self.reported

    def firing(self) -> bool:
        return any(m.firing for m in self.members.values())

    def __post_init__(self) -> None:
        self.first_alert = min(self.first_alert, self.onset)

    def last_onset(self) -> float:
        return max((m.onset for m in self.members.values()), default=self.onset)

    def related(
        self, service: str, onset: float, graph: DependencyGraph, config: DiagnosisConfig
    ) -> bool:
        """Whether an anomaly of ``service`` starting at ``onset`` belongs to this incident."""
        w = config.join_window_s
        if self.closed or not (self.onset - w <= onset <= self.last_onset() + w):
            return False
        if onset > self.first_alert + w:
            # Late: only the trouble it holds goes on (a service of it still firing). A new fault
            # nearby long after its start is an incident of its own: one that never closes (its
            # fault not fixed) must not swallow every later fault, and hide it from the loop.
            return service in {m.service for m in self.members.values() if m.firing}
        if self.whole_graph:
            return True
        mine = self.services()
        if service in mine:
            return True
        if service not in graph or not any(s in graph for s in mine):
            # Nothing is known of how they connect: closeness in time (same domain) decides.
            return True
        return any(graph.distance(service, s, config.max_hops) is not None for s in mine)


def hypotheses(
    ranking: list[NodeScore],
    evidence: Mapping[str, NodeEvidence],
    graph: DependencyGraph,
    config: DiagnosisConfig,
) -> list[Hypothesis]:
    """Hypotheses for the best-ranked candidates (those with any score at all)."""
    out: list[Hypothesis] = []
    for s in ranking:
        if len(out) >= config.max_hypotheses or s.score <= 0:
            break
        ev = evidence[s.node]
        fc = fault_class(s, ev, graph)
        out.append(
            Hypothesis(
                rank=len(out) + 1,
                service=s.node,
                fault_class=fc,
                score=score_to_unit(s.score),
                change_id=s.change_ref.change_id if s.change_ref else None,
                change_version=s.change_ref.version if s.change_ref else None,
                evidence_for=evidence_for(s, ev),
                evidence_against=evidence_against(s, ev),
                actions=[v.value for v in ACTIONS[fc]],
            )
        )
    return out


def confidence(hyps: list[Hypothesis], config: DiagnosisConfig) -> tuple[float, bool]:
    """How sure the diagnosis is, and whether it is novel (so the decide stage escalates).

    Strong and clearly ahead of the runner-up is confident; a weak top candidate, a close race or
    a fault class nothing known addresses is novel.

    Examples
    --------
    >>> def h(rank, score, fc=FaultClass.SATURATION):
    ...     return Hypothesis(rank=rank, service=f"s{rank}", fault_class=fc, score=score)
    >>> conf, novel = confidence([h(1, 0.8), h(2, 0.2)], DiagnosisConfig())
    >>> round(conf, 2), novel
    (0.7, False)
    >>> confidence([h(1, 0.8, FaultClass.UNKNOWN)], DiagnosisConfig())[1]
    True
    >>> confidence([], DiagnosisConfig())
    (0.0, True)
    """
    if not hyps:
        return 0.0, True
    u1 = hyps[0].score
    u2 = hyps[1].score if len(hyps) > 1 else 0.0
    conf = u1 * (0.5 + 0.5 * (u1 - u2) / max(u1, 1e-9))
    novel = conf < config.novel_below or hyps[0].fault_class is FaultClass.UNKNOWN
    return max(0.0, min(1.0, conf)), novel
