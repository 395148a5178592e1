"""What a metric's name says about it: its kind, which direction is bad, where it is measured.

Diagnosis reasons about *kinds* of signals, not about metric names: a latency or an error rate
propagates from a callee to its callers, a CPU or memory shift stays where it happens, a
client-side latency describes the service being called, and a host-level metric describes the
host. The names follow the common conventions (Prometheus, OpenTelemetry, cloud consoles); an
unknown name is ``other`` and counts in both directions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

__all__ = ["SYMPTOM_KINDS", "MetricKind", "MetricTraits", "classify"]


class MetricKind(StrEnum):
    LATENCY = "latency"
    ERRORS = "errors"
    AVAILABILITY = "availability"
    CPU = "cpu"
    MEMORY = "memory"
    IO = "io"
    TRAFFIC = "traffic"
    OTHER = "other"


SYMPTOM_KINDS = frozenset({MetricKind.LATENCY, MetricKind.ERRORS, MetricKind.AVAILABILITY})
"""Kinds a caller inherits from its callee (the ones that travel up the call graph)."""

# Order matters: the first pattern that matches decides ("error_latency" is an error metric,
# "upstream_unavailable" counts errors).
_PATTERNS: tuple[tuple[MetricKind, re.Pattern[str]], ...] = (
    (MetricKind.ERRORS, re.compile(r"error|fail|exception|5xx|fault|reject|timeout|unavailab")),
    (MetricKind.AVAILABILITY, re.compile(r"success|availab|uptime_ratio|(^|[_.])ok([_.]|$)")),
    (
        MetricKind.LATENCY,
        re.compile(r"latenc|(^|[_.:/-])lat([_.:/-]|$)|duration|delay|response.?time|rtt|_ms$"),
    ),
    (MetricKind.CPU, re.compile(r"cpu|load_?avg|throttl|saturat")),
    (MetricKind.MEMORY, re.compile(r"mem|heap|rss|oom|swap")),
    (MetricKind.IO, re.compile(r"net|byte|syscall|disk|(^|[_.])io([_.]|$)|packet|socket")),
    (
        MetricKind.TRAFFIC,
        re.compile(r"request|workload|ops|qps|rps|throughput|(^|[_.])lod$|load|count|(^|[_.])sum$"),
    ),
)
_BAD_DIRECTION = {
    MetricKind.LATENCY: 1,
    MetricKind.ERRORS: 1,
    MetricKind.AVAILABILITY: -1,
    MetricKind.CPU: 1,
    MetricKind.MEMORY: 1,
}
_OUTBOUND = re.compile(r"client|outbound|egress|upstream")
_HOST = re.compile(r"^(node|host|machine|vm)|(^|[_.])(node|host)[_.]")


@dataclass(frozen=True)
class MetricTraits:
    """What diagnosis needs to know about one metric name.

    Attributes
    ----------
    kind
        The family of signal.
    bad
        ``+1`` when a rise is bad, ``-1`` when a fall is bad, ``0`` when both can be.
    outbound
        Measured on the calling side (a client latency, errors from upstream calls): it
        describes the services called.
    host_level
        A host or node metric reported with the service: it describes the machine.
    """

    kind: MetricKind
    bad: int
    outbound: bool
    host_level: bool

    def badness(self, z: float) -> float:
        """The part of a signed deviation that goes the bad way (never negative)."""
        return max(0.0, z * self.bad) if self.bad else abs(z)


@lru_cache(maxsize=65536)
def classify(name: str) -> MetricTraits:
    """The traits of a metric, from its name.

    Examples
    --------
    >>> classify("PodClientLatencyP90(s)")
    MetricTraits(kind=<MetricKind.LATENCY: 'latency'>, bad=1, outbound=True, host_level=False)
    >>> classify("availability|Average").bad, classify("NodeCpuUsageRate").host_level
    (-1, True)
    >>> classify("requests|Sum").kind.value, classify("requests|Sum").bad
    ('traffic', 0)
    """
    low = name.lower()
    kind = next((k for k, pat in _PATTERNS if pat.search(low)), MetricKind.OTHER)
    return MetricTraits(
        kind=kind,
        bad=_BAD_DIRECTION.get(kind, 0),
        outbound=bool(_OUTBOUND.search(low)),
        host_level=bool(_HOST.search(low)),
    )
