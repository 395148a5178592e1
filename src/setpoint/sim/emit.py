"""Readings to telemetry: the schema events one service emits at one sample, with measurement
noise, sampled log lines and trace spans. Deterministic given the random generator it is handed.
"""

from __future__ import annotations

import math
import random

from setpoint.clock import to_datetime
from setpoint.schemas import (
    Event,
    HealthCheck,
    LogEvent,
    LogLevel,
    MetricBatch,
    MetricPoint,
    TraceSpan,
)
from setpoint.sim.physics import Failure, Reading
from setpoint.sim.state import ServiceState, World

_TEMPLATES = {
    "exception": "Unhandled exception in request handler: NullPointerException at {svc}.handle",
    "cache_corrupt": "cache entry failed to deserialize: checksum mismatch (served a miss)",
    "oom": "java.lang.OutOfMemoryError: Java heap space (GC overhead limit exceeded)",
    "overloaded": "request rejected: work queue full",
}
_ROUTES = ("items", "cart", "orders", "session", "search", "status")
_LOG_SHARE = 0.05
"""Share of failing requests that leave a log line (the rest are counted, not logged)."""
_MAX_ERROR_LINES = 12
_IDLE_RPS = 0.01


def event_time(e: Event) -> float:
    """Unix seconds of an event (a metric batch's first point)."""
    if isinstance(e, MetricBatch):
        return e.points[0].ts.timestamp()
    ts = getattr(e, "ts", None)
    return ts.timestamp() if ts is not None else 0.0


class Emitter:
    """Turns the readings of one service into its events for one sample.

    Parameters
    ----------
    world
        Source of event ids.
    rng
        The fleet's random generator (its draws make the noise).
    spans_per_edge
        Trace spans sampled per dependency edge per sample.
    info_lines
        Mean number of routine info log lines per service per sample.

    Examples
    --------
    >>> import random
    >>> from setpoint.sim.physics import evaluate
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"entry_rps": 50}}), start=0.0, id_prefix="t")
    >>> r = evaluate(w, {}, {"api": 50.0}, 10.0)["api"]
    >>> events = Emitter(w, random.Random(1)).sample(w.services["api"], r, 10.0, 10.0)
    >>> sorted({e.kind for e in events})
    ['health', 'metric_batch']
    """

    def __init__(
        self, world: World, rng: random.Random, spans_per_edge: int = 3, info_lines: float = 1.0
    ) -> None:
        self.world = world
        self.rng = rng
        self.spans_per_edge = spans_per_edge
        self.info_lines = info_lines

    def sample(self, s: ServiceState, r: Reading, t: float, interval: float) -> list[Event]:
        out: list[Event] = []
        if any(i.up for i in r.instances):
            out.append(self.metrics(r, t, interval))
            out += self.logs(s, r, t, interval)
            out += self.spans(s, r, t, interval)
        out += self.health(r, t)
        return out

    def metrics(self, r: Reading, t: float, interval: float) -> MetricBatch:
        g = self.rng.gauss
        n = max(1.0, r.request_rate * interval)
        err = r.error_rate + g(0.0, math.sqrt(max(r.error_rate * (1 - r.error_rate), 1e-6) / n))
        p50 = r.latency_p50_ms * math.exp(g(0.0, 0.04))
        values = {
            "latency_p50_ms": p50,
            "latency_p99_ms": max(p50, r.latency_p99_ms * math.exp(g(0.0, 0.08))),
            "error_rate": min(1.0, max(0.0, err)),
            "request_rate": max(0.0, r.request_rate * (1.0 + g(0.0, 0.01))),
            "cpu": min(1.0, max(0.0, r.cpu + g(0.0, 0.015))),
            "memory_mb": max(0.0, r.memory_mb + g(0.0, 3.0)),
            "saturation": min(1.0, max(0.0, r.saturation + g(0.0, 0.01))),
        }
        if r.request_rate < _IDLE_RPS:
            # No requests, no latency or error measurement (what a histogram gives when idle).
            for name in ("latency_p50_ms", "latency_p99_ms", "error_rate"):
                del values[name]
        ts = to_datetime(t)
        points = [MetricPoint(name=k, value=round(v, 6), ts=ts) for k, v in values.items()]
        return MetricBatch(service=r.service, points=points)

    def logs(self, s: ServiceState, r: Reading, t: float, interval: float) -> list[LogEvent]:
        out = [
            self._log(s, t, interval, LogLevel.INFO, self._access_line(r), None)
            for _ in range(self._poisson(self.info_lines))
        ]
        expected = r.error_rate * r.request_rate * interval * _LOG_SHARE
        lines = min(_MAX_ERROR_LINES, self._poisson(min(expected, 4.0 * _MAX_ERROR_LINES)))
        failures = [f for f in r.failures if f.share > 0]
        for _ in range(lines):
            f = self._pick(failures)
            msg = f.message or _TEMPLATES.get(f.error_class, f.error_class).format(svc=s.name)
            out.append(self._log(s, t, interval, LogLevel.ERROR, msg, f.error_class))
        return out

    def spans(self, s: ServiceState, r: Reading, t: float, interval: float) -> list[TraceSpan]:
        out: list[TraceSpan] = []
        for edge in r.edges:
            for _ in range(self.spans_per_edge):
                out.append(
                    TraceSpan(
                        trace_id=self.world.next_id("tr"),
                        span_id=self.world.next_id("sp"),
                        caller=s.name,
                        callee=edge.callee,
                        ts=to_datetime(t - self.rng.uniform(0.0, interval)),
                        duration_ms=max(0.1, edge.p50_ms * math.exp(self.rng.gauss(0.0, 0.35))),
                        error=self.rng.random() < edge.fail,
                        operation=f"{edge.callee}/{self.rng.choice(_ROUTES)}",
                    )
                )
        return out

    def health(self, r: Reading, t: float) -> list[HealthCheck]:
        out: list[HealthCheck] = []
        for i in r.instances:
            overloaded = i.rho > 1.1 and self.rng.random() < min(0.9, 2.0 * (i.rho - 1.0))
            if not i.up:
                ok, detail, ms = False, f"connection refused (region {i.region} down)", None
            elif i.hung:
                ok, detail, ms = False, "timeout after 2000 ms: instance unresponsive", 2000.0
            elif overloaded:
                ok, detail, ms = False, "timeout after 2000 ms: overloaded", 2000.0
            else:
                ok, detail, ms = True, "ok", max(0.5, 2.0 * math.exp(self.rng.gauss(0.0, 0.3)))
            out.append(
                HealthCheck(
                    service=r.service,
                    ts=to_datetime(t),
                    ok=ok,
                    instance=i.name,
                    latency_ms=ms,
                    detail=detail,
                )
            )
        return out

    def _log(
        self, s: ServiceState, t: float, interval: float, level: LogLevel, msg: str, cls: str | None
    ) -> LogEvent:
        live = [i for i in s.instances if i.region not in s.down_regions] or s.instances
        return LogEvent(
            service=s.name,
            ts=to_datetime(t - self.rng.uniform(0.0, interval)),
            level=level,
            message=msg,
            error_class=cls,
            instance=self.rng.choice(live).name if live else "",
        )

    def _access_line(self, r: Reading) -> str:
        ms = r.latency_p50_ms * math.exp(self.rng.gauss(0.0, 0.3))
        return f"GET /api/{self.rng.choice(_ROUTES)} 200 {ms:.0f}ms"

    def _pick(self, failures: list[Failure]) -> Failure:
        total = sum(f.share for f in failures)
        x = self.rng.uniform(0.0, total)
        for f in failures:
            x -= f.share
            if x <= 0:
                return f
        return failures[-1]

    def _poisson(self, lam: float) -> int:
        """A Poisson draw (Knuth's method; ``lam`` is small here)."""
        if lam <= 0:
            return 0
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1
