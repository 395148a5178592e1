"""Personalised PageRank over the incident's part of the graph: the classic random-walk ranker
(MicroRCA, MonitorRank), kept as a measured alternative to the causal ranker.

The walk restarts at anomalous nodes (in proportion to their own anomaly) and follows
caller → callee edges, preferring anomalous callees, so probability mass flows from symptoms
towards the dependencies that may cause them.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from setpoint.causal.config import DiagnosisConfig
from setpoint.causal.evidence import NodeEvidence
from setpoint.causal.graph import DependencyGraph

__all__ = ["pagerank_scores"]


def pagerank_scores(
    evidence: Mapping[str, NodeEvidence], graph: DependencyGraph, config: DiagnosisConfig
) -> dict[str, float]:
    """PageRank of every node of ``evidence``, personalised by its own anomaly.

    Examples
    --------
    >>> from setpoint.causal.evidence import NodeEvidence
    >>> g = DependencyGraph.from_edges([("web", "api")])
    >>> s = pagerank_scores({"web": NodeEvidence("web"), "api": NodeEvidence("api")}, g,
    ...                     DiagnosisConfig())
    >>> s["api"] > s["web"]
    True
    """
    own = {n: ev.own for n, ev in evidence.items()}
    g = nx.DiGraph()
    g.add_nodes_from(own)
    for a, b in graph.edges():
        if a in own and b in own:
            g.add_edge(a, b, weight=0.1 + own[b])
    for n in own:
        # A self-loop lets an anomalous node keep its mass when none of its callees is worse.
        g.add_edge(n, n, weight=0.1 + own[n])
    total = sum(own.values())
    personal = {n: (v + 1e-6) / (total + 1e-6 * len(own)) for n, v in own.items()}
    try:
        pr: dict[str, float] = nx.pagerank(
            g, alpha=config.pagerank_alpha, personalization=personal, weight="weight", tol=1e-8
        )
    except nx.PowerIterationFailedConvergence:
        pr = personal
    return pr
