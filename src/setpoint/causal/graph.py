"""The dependency graph: who calls whom (caller → callee) and what runs where (service → host).

Edges come from a declared topology, from trace spans (learned online, with call and error rates,
and forgotten when their traffic stops) and from infrastructure that telemetry names (a database
a span calls, the host a service runs on). Anomalies travel *against* the edges: a slow callee
makes its callers slow, a sick host makes every service on it sick.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from setpoint.causal.topology import NodeKind, Topology
from setpoint.schemas import TraceSpan

__all__ = ["DependencyGraph", "EdgeShift", "infer_kind"]

_INFRA_NAMES: tuple[tuple[NodeKind, re.Pattern[str]], ...] = (
    ("cache", re.compile(r"cache|redis|memcache|valkey")),
    ("database", re.compile(r"(^|[-_.])db([-_.]|$)|database|postgres|mysql|mongo|dynamodb|sql")),
    ("queue", re.compile(r"kafka|rabbit|sqs|queue|nats|pubsub")),
    ("host", re.compile(r"^(node|host|vm|ip)-")),
)


def infer_kind(name: str) -> NodeKind:
    """Guess an undeclared node's kind from its name (``orders-db`` is a database).

    Examples
    --------
    >>> infer_kind("orders-db"), infer_kind("session-redis"), infer_kind("cart")
    ('database', 'cache', 'service')
    """
    low = name.lower()
    return next((k for k, pat in _INFRA_NAMES if pat.search(low)), "service")


@dataclass
class _Traffic:
    """Calls on one learned edge, in event-time buckets (bounded)."""

    buckets: deque[list[float]] = field(default_factory=deque)
    """``[bucket_start, calls, errors, total_ms]``, oldest first."""
    first_seen: float = math.inf
    last_seen: float = 0.0


@dataclass(frozen=True)
class EdgeShift:
    """How the calls on one edge changed at an onset: the caller's view of its callee.

    Examples
    --------
    >>> e = EdgeShift("web", "api", 100, 50, 0.01, 0.41, 20.0, 60.0)
    >>> round(e.error_increase, 2), e.latency_ratio
    (0.4, 3.0)
    """

    caller: str
    callee: str
    calls_before: float
    calls_after: float
    error_rate_before: float
    error_rate_after: float
    latency_before_ms: float
    latency_after_ms: float

    @property
    def error_increase(self) -> float:
        """Extra fraction of calls failing after the onset."""
        return max(0.0, self.error_rate_after - self.error_rate_before)

    @property
    def latency_ratio(self) -> float:
        """Mean latency after over before (1.0 is unchanged)."""
        return self.latency_after_ms / max(self.latency_before_ms, 1e-9)


class DependencyGraph:
    """Services and infrastructure as a directed graph, caller → callee.

    Parameters
    ----------
    edge_ttl_s
        A learned edge with no call for this long (event time) is removed; declared edges stay.
    bucket_s
        Width of the traffic buckets kept on learned edges.
    max_buckets
        Buckets kept per edge (the memory of an edge's call rate and error rate).

    Examples
    --------
    >>> g = DependencyGraph.from_edges([("web", "api"), ("api", "db")])
    >>> sorted(g.callers("api")), sorted(g.descendants("web", 2))
    (['web'], ['api', 'db'])
    >>> g.kind("db"), g.domains()["db"]
    ('database', 'default')
    """

    def __init__(
        self, edge_ttl_s: float = 900.0, bucket_s: float = 60.0, max_buckets: int = 120
    ) -> None:
        self.edge_ttl_s = edge_ttl_s
        self.bucket_s = bucket_s
        self.max_buckets = max_buckets
        self._g: nx.DiGraph = nx.DiGraph()
        self._traced_in: dict[str, set[str]] = {}
        self._undirected: nx.Graph | None = None
        self._domains: dict[str, str] | None = None

    # -- building --------------------------------------------------------------------------
    @classmethod
    def from_topology(cls, topology: Topology, **params: Any) -> DependencyGraph:
        """A graph holding every node and edge a validated topology declares."""
        return cls.from_networkx(topology.graph(), **params)

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph, **params: Any) -> DependencyGraph:
        """A graph declaring every node and edge of a networkx caller -> callee graph (node
        attributes ``kind`` and ``domain`` and edge attribute ``relation`` are read if set)."""
        g = cls(**params)
        for name, attrs in graph.nodes(data=True):
            g.add_node(name, attrs.get("kind"), attrs.get("domain"))
        for caller, callee, attrs in graph.edges(data=True):
            g.add_edge(caller, callee, relation=attrs.get("relation", "calls"))
        return g

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]], **params: Any) -> DependencyGraph:
        """A graph from declared ``(caller, callee)`` pairs (self-loops are ignored)."""
        g = cls(**params)
        for caller, callee in edges:
            g.add_edge(caller, callee)
        return g

    def add_node(self, name: str, kind: NodeKind | None = None, domain: str | None = None) -> None:
        """Add (or update) a node; an undeclared kind is guessed from the name."""
        if name not in self._g:
            self._g.add_node(name, kind=kind or infer_kind(name), domain=domain)
            self._changed()
            return
        attrs = self._g.nodes[name]
        if kind is not None:
            attrs["kind"] = kind
        if domain is not None:
            attrs["domain"] = domain
            self._changed()

    def add_edge(self, caller: str, callee: str, relation: str = "calls") -> None:
        """A declared dependency (``calls``) or placement (``runs_on``) edge."""
        if caller == callee:
            return
        for n in (caller, callee):
            if n not in self._g:
                self.add_node(n, "host" if relation == "runs_on" and n == callee else None)
        if not self._g.has_edge(caller, callee):
            self._g.add_edge(caller, callee, relation=relation, declared=True, traffic=None)
            self._changed()
        else:
            self._g.edges[caller, callee]["declared"] = True

    def add_infra(self, service: str, node: str, kind: NodeKind = "host") -> None:
        """``service`` runs on (or depends on) infrastructure ``node``: a host, a database..."""
        self.add_node(node, kind)
        self.add_edge(service, node, relation="runs_on" if kind == "host" else "calls")

    def observe_span(self, span: TraceSpan) -> None:
        """Learn the edge of one client span, with its call, error and latency counts."""
        caller, callee, t = span.caller, span.callee, span.ts.timestamp()
        if caller == callee:
            return
        if not self._g.has_edge(caller, callee):
            for n in (caller, callee):
                if n not in self._g:
                    self.add_node(n)
            self._g.add_edge(caller, callee, relation="calls", declared=False, traffic=None)
            self._changed()
        data = self._g.edges[caller, callee]
        traffic: _Traffic = data["traffic"] or _Traffic()
        data["traffic"] = traffic
        self._traced_in.setdefault(callee, set()).add(caller)
        start = t - t % self.bucket_s
        if not traffic.buckets or traffic.buckets[-1][0] < start:
            traffic.buckets.append([start, 0.0, 0.0, 0.0])
            while len(traffic.buckets) > self.max_buckets:
                traffic.buckets.popleft()
        b = next((b for b in reversed(traffic.buckets) if b[0] == start), traffic.buckets[-1])
        b[1] += 1
        b[2] += 1.0 if span.error else 0.0
        b[3] += span.duration_ms
        traffic.first_seen = min(traffic.first_seen, t)
        traffic.last_seen = max(traffic.last_seen, t)

    def expire(self, now: float) -> list[tuple[str, str]]:
        """Remove learned edges whose traffic stopped ``edge_ttl_s`` ago; returns them."""
        gone = [
            (a, b)
            for a, b, d in self._g.edges(data=True)
            if not d["declared"] and d["traffic"] and now - d["traffic"].last_seen > self.edge_ttl_s
        ]
        self._g.remove_edges_from(gone)
        for a, b in gone:
            self._traced_in[b].discard(a)
        if gone:
            self._changed()
        return gone

    def _changed(self) -> None:
        self._undirected = None
        self._domains = None

    # -- traffic ---------------------------------------------------------------------------
    def edge_rates(
        self, caller: str, callee: str, now: float, window_s: float
    ) -> tuple[float, float]:
        """Calls per second and error fraction on a learned edge over the last ``window_s``."""
        calls, errors, _ = self._totals(caller, callee, now - window_s, now)
        return calls / max(window_s, 1e-9), errors / calls if calls else 0.0

    def edge_shift(self, caller: str, callee: str, onset: float, now: float) -> EdgeShift | None:
        """The edge's calls before ``onset`` against those from ``onset`` to ``now``."""
        data = self._g.get_edge_data(caller, callee)
        if not data or data["traffic"] is None:
            return None
        before = self._totals(caller, callee, float("-inf"), onset)
        after = self._totals(caller, callee, onset, now + self.bucket_s)
        if before[0] == 0 or after[0] == 0:
            return None
        return EdgeShift(
            caller, callee, before[0], after[0], before[1] / before[0], after[1] / after[0],
            before[2] / before[0], after[2] / after[0],
        )  # fmt: skip

    def traced_callers(self, callee: str) -> list[str]:
        """The callers spans have been seen calling ``callee`` from (edges not yet aged out)."""
        return sorted(self._traced_in.get(callee, ()))

    def edge_first_seen(self, caller: str, callee: str) -> float | None:
        """When a learned edge carried its first call (``None`` for declared-only edges)."""
        data = self._g.get_edge_data(caller, callee)
        traffic: _Traffic | None = data["traffic"] if data else None
        return traffic.first_seen if traffic and not data["declared"] else None

    def _totals(self, caller: str, callee: str, lo: float, hi: float) -> tuple[float, ...]:
        data = self._g.get_edge_data(caller, callee)
        traffic: _Traffic | None = data["traffic"] if data else None
        rows = [b for b in (traffic.buckets if traffic else ()) if lo <= b[0] < hi]
        return tuple(sum(b[i] for b in rows) for i in (1, 2, 3))

    # -- queries ---------------------------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        """A read-only view of the underlying networkx graph."""
        return self._g.copy(as_view=True)

    def __contains__(self, node: object) -> bool:
        return node in self._g

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())

    def nodes(self) -> Iterator[str]:
        return iter(self._g.nodes)

    def edges(self) -> Iterator[tuple[str, str]]:
        return iter(self._g.edges)

    def kind(self, node: str) -> NodeKind:
        kind: NodeKind = self._g.nodes[node]["kind"] if node in self._g else infer_kind(node)
        return kind

    def callers(self, node: str) -> list[str]:
        return list(self._g.predecessors(node)) if node in self._g else []

    def callees(self, node: str) -> list[str]:
        return list(self._g.successors(node)) if node in self._g else []

    def descendants(self, node: str, depth: int) -> dict[str, int]:
        """Nodes ``node`` depends on within ``depth`` hops, with their distance."""
        return self._bfs(node, depth, self._g.successors)

    def ancestors(self, node: str, depth: int) -> dict[str, int]:
        """Nodes that depend on ``node`` within ``depth`` hops, with their distance."""
        return self._bfs(node, depth, self._g.predecessors)

    def _bfs(self, node: str, depth: int, step: Callable[[str], Iterable[str]]) -> dict[str, int]:
        if node not in self._g:
            return {}
        seen: dict[str, int] = {node: 0}
        frontier = [node]
        for d in range(1, depth + 1):
            nxt = [m for n in frontier for m in step(n) if m not in seen]
            for m in nxt:
                seen.setdefault(m, d)
            frontier = list(dict.fromkeys(nxt))
        del seen[node]
        return seen

    def distance(self, a: str, b: str, max_hops: int) -> int | None:
        """Hops between two nodes ignoring direction (``None`` beyond ``max_hops``)."""
        if a == b:
            return 0
        if a not in self._g or b not in self._g:
            return None
        if self._undirected is None:
            self._undirected = self._g.to_undirected(as_view=True)
        reach = nx.single_source_shortest_path_length(self._undirected, a, cutoff=max_hops)
        hops = reach.get(b)
        return None if hops is None else int(hops)

    def domains(self) -> dict[str, str]:
        """Failure domain of every node: declared, else its connected component's.

        A component takes the domain declared by one of its nodes (the smallest name among the
        declared ones); an undeclared component is ``default`` when it is the only one, else it
        is named after its smallest node.
        """
        if self._domains is None:
            comps = [sorted(c) for c in nx.weakly_connected_components(self._g)]
            out: dict[str, str] = {}
            for comp in comps:
                declared = sorted(d for n in comp if (d := self._g.nodes[n]["domain"]))
                name = declared[0] if declared else ("default" if len(comps) == 1 else comp[0])
                for n in comp:
                    out[n] = self._g.nodes[n]["domain"] or name
            self._domains = out
        return dict(self._domains)

    def domain_of(self, node: str) -> str:
        return self.domains().get(node, "default")
