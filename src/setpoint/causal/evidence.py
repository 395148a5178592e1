"""Evidence for an incident: what an SRE would open, for every node in its scope.

For each node: which of its series moved at the onset and how far (from :class:`SeriesStore`),
whether its error logs burst, what its callers' spans say about it (error and latency shifts on
the edges into it), which changes (deploys, config, certificate or credential expiry) landed on
it near the onset, and whether it started calling something new.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from setpoint.causal.config import DiagnosisConfig
from setpoint.causal.graph import DependencyGraph, EdgeShift
from setpoint.causal.metrics import MetricTraits, classify
from setpoint.causal.series import Deviation, SeriesStore
from setpoint.schemas import ChangeEvent, ChangeType, LogEvent

__all__ = [
    "ChangeLog",
    "LogBook",
    "LogBurst",
    "NodeEvidence",
    "Signal",
    "collect",
]


class Signal(NamedTuple):
    """One deviation, judged: how bad it is for its node (``score``, 0 when it is good news)."""

    deviation: Deviation
    traits: MetricTraits
    score: float

    @property
    def badness(self) -> float:
        return self.traits.badness(self.deviation.z)


@dataclass(frozen=True)
class LogBurst:
    """Error logs after the onset against the rate before it."""

    count: int
    expected: float
    z: float
    classes: tuple[tuple[str, int], ...]


@dataclass
class NodeEvidence:
    """Everything collected about one node for one incident.

    Examples
    --------
    >>> from setpoint.causal.series import Deviation
    >>> d = Deviation("api", "latency_ms", 8.0, 60.0, 100.0, False, False, 30.0, 30, 3)
    >>> ev = NodeEvidence("api", signals=[Signal(d, classify(d.name), math.log1p(8.0))])
    >>> round(ev.own, 2), ev.first_onset(min_badness=3.0), ev.idle_before
    (2.2, 30.0, False)
    """

    node: str
    signals: list[Signal] = field(default_factory=list)
    """Deviations of its own (local) series, worst first."""
    outbound: list[Signal] = field(default_factory=list)
    """Deviations of its client-side series (they describe its callees)."""
    host: list[Signal] = field(default_factory=list)
    """Deviations of its host-level series."""
    logs: LogBurst | None = None
    """Its own error-log burst (failed calls out excluded)."""
    logs_out: LogBurst | None = None
    """Its burst of errors about calls out (``upstream_*``): they describe its callees."""
    edges_in: list[EdgeShift] = field(default_factory=list)
    """Span shifts on the edges from its callers into it."""
    changes: list[ChangeEvent] = field(default_factory=list)

    @property
    def own(self) -> float:
        """Strength of its own anomaly: its worst local (or weighted host) signal, or logs."""
        best = max((s.score for s in self.signals), default=0.0)
        best = max(best, max((s.score for s in self.host), default=0.0))
        log = math.log1p(max(0.0, self.logs.z)) if self.logs else 0.0
        return max(best, log)

    @property
    def idle_before(self) -> bool:
        """Every series it has was constantly zero before the onset (it just became active)."""
        devs = [s.deviation for s in (*self.signals, *self.host)]
        return bool(devs) and all(d.idle for d in devs)

    def first_onset(self, min_badness: float) -> float | None:
        """When its first clearly bad series started moving."""
        times = [s.deviation.onset for s in self.signals if s.badness >= min_badness]
        return min(times) if times else None


class LogBook:
    """Bounded record of error logs per service (what a log-burst detector needs).

    Examples
    --------
    >>> from setpoint.clock import to_datetime
    >>> book = LogBook()
    >>> for t in range(0, 600, 60):
    ...     book.on_log(LogEvent(service="api", ts=to_datetime(t), level="error", message="x"))
    >>> for t in range(600, 660, 2):
    ...     book.on_log(LogEvent(service="api", ts=to_datetime(t), level="error",
    ...                          message="handshake", error_class="tls_handshake"))
    >>> b = book.burst("api", onset=600.0, now=660.0, baseline_s=600.0)
    >>> b.count, b.z > 5, b.classes
    (30, True, (('tls_handshake', 30),))
    """

    def __init__(self, max_per_service: int = 4096) -> None:
        self.max_per_service = max_per_service
        self._logs: dict[str, deque[tuple[float, str]]] = {}

    def on_log(self, log: LogEvent) -> None:
        if log.level not in ("error", "critical"):
            return
        buf = self._logs.setdefault(log.service, deque(maxlen=self.max_per_service))
        buf.append((log.ts.timestamp(), log.error_class or "error"))

    def services(self) -> list[str]:
        return list(self._logs)

    def burst(
        self,
        service: str,
        onset: float,
        now: float,
        baseline_s: float,
        keep: Callable[[str], bool] = lambda cls: True,
    ) -> LogBurst | None:
        """Error logs of the classes ``keep`` accepts, after ``onset`` against before it."""
        logs = self._logs.get(service)
        if not logs:
            return None
        after = [c for t, c in logs if onset <= t <= now and keep(c)]
        before = sum(1 for t, c in logs if onset - baseline_s <= t < onset and keep(c))
        span = max(now - onset, 1.0)
        expected = (before + 0.5) / baseline_s * span
        z = (len(after) - expected) / math.sqrt(expected + 1.0)
        classes = tuple(Counter(after).most_common(4))
        return LogBurst(len(after), expected, z, classes)


class ChangeLog:
    """Changes per service, kept for ``memory_s`` of event time.

    Examples
    --------
    >>> from setpoint.clock import to_datetime
    >>> log = ChangeLog()
    >>> log.on_change(ChangeEvent(change_id="c1", service="api", change_type="deploy",
    ...                           ts=to_datetime(900)))
    >>> log.on_change(ChangeEvent(change_id="c2", service="api", change_type="certificate_expiry",
    ...                           ts=to_datetime(0), expires_at=to_datetime(1010)))
    >>> [c.change_id for c in log.near("api", onset=1000.0, lookback_s=300.0, grace_s=60.0)]
    ['c1', 'c2']
    """

    def __init__(self, memory_s: float = 6 * 3600.0) -> None:
        self.memory_s = memory_s
        self._changes: dict[str, list[ChangeEvent]] = {}

    def on_change(self, change: ChangeEvent) -> None:
        self._changes.setdefault(change.service, []).append(change)

    def services(self) -> list[str]:
        return list(self._changes)

    def near(
        self, service: str, onset: float, lookback_s: float, grace_s: float
    ) -> list[ChangeEvent]:
        """Changes of ``service`` that landed (or expired) between lookback and grace."""
        return [
            c
            for c in self._changes.get(service, [])
            if onset - lookback_s <= change_time(c) <= onset + grace_s
        ]

    def forget_before(self, t: float) -> None:
        for svc in list(self._changes):
            kept = [c for c in self._changes[svc] if change_time(c) >= t - self.memory_s]
            if kept:
                self._changes[svc] = kept
            else:
                del self._changes[svc]


def change_time(change: ChangeEvent) -> float:
    """When a change bites: an expiry at its ``expires_at``, anything else when it happened."""
    expiring = change.change_type in (ChangeType.CERTIFICATE_EXPIRY, ChangeType.CREDENTIAL_EXPIRY)
    if expiring and change.expires_at is not None:
        return change.expires_at.timestamp()
    return change.ts.timestamp()


def collect(
    scope: Iterable[str],
    onset: float,
    now: float,
    sources: tuple[SeriesStore, LogBook, ChangeLog],
    graph: DependencyGraph,
    config: DiagnosisConfig,
) -> dict[str, NodeEvidence]:
    """The evidence of every node in ``scope`` for an incident that started at ``onset``."""
    store, logs, changes = sources
    out = {node: NodeEvidence(node) for node in scope}
    for dev in store.deviations(out, onset):
        _file(out[dev.service], dev, config)
    for node, ev in out.items():
        for group in (ev.signals, ev.outbound, ev.host):
            if len(group) > 1:
                group.sort(key=_by_score)
        ev.logs = logs.burst(node, onset, now, config.log_baseline_s, _own_class)
        ev.logs_out = logs.burst(node, onset, now, config.log_baseline_s, _outbound_class)
        ev.changes = changes.near(node, onset, config.change_lookback_s, config.change_grace_s)
        ev.edges_in = [
            shift
            for caller in graph.traced_callers(node)
            if (shift := graph.edge_shift(caller, node, onset, now)) is not None
        ]
    _lend_host_signals(out, graph, config)
    return out


def _outbound_class(error_class: str) -> bool:
    """An error class that reports a failed call out (``upstream_unavailable``)."""
    return classify(error_class).outbound


def _own_class(error_class: str) -> bool:
    return not _outbound_class(error_class)


def _by_score(s: Signal) -> float:
    return -s.score


def _lend_host_signals(
    evidence: dict[str, NodeEvidence], graph: DependencyGraph, config: DiagnosisConfig
) -> None:
    """A host's evidence is the host-level series its services report (at full weight)."""
    for node, ev in evidence.items():
        if graph.kind(node) != "host":
            continue
        for dependant in graph.callers(node):
            lent = evidence[dependant].host if dependant in evidence else []
            weight = 1.0 / config.host_weight if config.host_weight > 0 else 1.0
            ev.signals.extend(Signal(s.deviation, s.traits, s.score * weight) for s in lent)
        ev.signals.sort(key=lambda s: -s.score)


def _file(ev: NodeEvidence, dev: Deviation, config: DiagnosisConfig) -> None:
    traits = classify(dev.name)
    raw = math.log1p(traits.badness(dev.z)) * config.kind_weights.get(traits.kind, 1.0)
    if traits.outbound:
        ev.outbound.append(Signal(dev, traits, raw))
    elif traits.host_level:
        ev.host.append(Signal(dev, traits, raw * config.host_weight))
    else:
        ev.signals.append(Signal(dev, traits, raw))
