"""The detect stage's logic: per-series detectors, alert hygiene, grouping per service, context.

The stream agent feeds it telemetry values and asks it, at each batch end, what to emit. It does
no I/O and reads no clock: time is the event time it is given. Each series is a
:class:`~setpoint.detectors.monitor.SeriesMonitor` (its detector and its alert decision), created
on its first value and forgotten after ``evict_after_s`` of silence; a service's whole state can
be handed to another worker with :meth:`DetectionStage.snapshot` / :meth:`DetectionStage.restore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from setpoint.clock import to_datetime
from setpoint.detectors import _snapshot
from setpoint.detectors.monitor import DetectionConfig, SeriesMonitor
from setpoint.errors import DecodeError
from setpoint.schemas import (
    AnomalousSignal,
    Anomaly,
    ChangeEvent,
    ChangeRef,
    ChangeType,
    HealthCheck,
    LogEvent,
    MetricBatch,
    MetricSample,
    ServiceHealth,
    Silence,
    new_id,
)

__all__ = ["DetectionConfig", "DetectionStage"]

_LEASED_CHANGES = {
    ChangeType.DEPLOY,
    ChangeType.CONFIG,
    ChangeType.ROLLBACK,
    ChangeType.SCALE,
    ChangeType.FEATURE_FLAG,
    ChangeType.MAINTENANCE,
}

_Named = list[tuple[str, SeriesMonitor]]


@dataclass
class _ServiceState:
    anomaly_id: str | None = None
    onset: float = 0.0
    suppressed_by: str | None = None
    emitted_signals: frozenset[str] = frozenset()
    last_health: float = 0.0
    log_counts: dict[str, int] = field(default_factory=dict)
    log_window_start: float | None = None
    changes: list[ChangeEvent] = field(default_factory=list)


class DetectionStage:
    """Per-series online detection for the services a worker owns.

    Examples
    --------
    >>> stage = DetectionStage(DetectionConfig(warmup=5, detector_params={"warmup": 50}))
    >>> for i in range(100):
    ...     stage.observe("api", "latency_ms", 100.0 + i % 3, float(i))
    >>> for i in range(100, 104):
    ...     stage.observe("api", "latency_ms", 900.0, float(i))
    >>> anomalies, _ = stage.flush(104.0)
    >>> [(a.service, a.status, a.signals[0].name) for a in anomalies]
    [('api', 'firing', 'latency_ms')]
    """

    def __init__(
        self, config: DetectionConfig | None = None, domains: Mapping[str, str] | None = None
    ) -> None:
        self.config = config or DetectionConfig()
        self.domains = dict(domains or {})
        self._series: dict[str, dict[str, SeriesMonitor]] = {}
        self._services: dict[str, _ServiceState] = {}
        self._silences: dict[str, Silence] = {}
        self._now = 0.0

    # -- input -----------------------------------------------------------------------------
    def ingest(self, value: object) -> float | None:
        """Feed one telemetry or context value of any kind; return its event time (if it has one).

        Trace spans are not detection input here (diagnosis learns the graph from them).
        """
        if isinstance(value, MetricSample):
            t = value.ts.timestamp()
            self.observe(value.service, value.name, value.value, t, value.instance)
            return t
        if isinstance(value, MetricBatch):
            points = ((p.name, p.value, p.ts.timestamp(), p.instance) for p in value.points)
            return self.observe_points(value.service, points)
        if isinstance(value, LogEvent):
            self.on_log(value)
            return value.ts.timestamp()
        if isinstance(value, HealthCheck):
            self.on_health(value)
            return value.ts.timestamp()
        if isinstance(value, ChangeEvent):
            self.on_change(value)
            return value.ts.timestamp()
        if isinstance(value, Silence):
            self.on_silence(value)
        return None

    def observe(self, service: str, name: str, value: float, t: float, instance: str = "") -> None:
        """One sample of one series (created on its first sample)."""
        series = self._series.get(service)
        if series is None:
            series = self._series[service] = {}
        key = f"{name}@{instance}" if instance else name
        m = series.get(key)
        if m is None:
            m = series[key] = self.config.new_monitor(name)
        if t > self._now:
            self._now = t
        m.observe(value, t)

    def observe_points(
        self, service: str, points: Iterable[tuple[str, float, float, str]]
    ) -> float:
        """Many ``(name, value, t, instance)`` samples of one service (a metric batch in its lean
        form: what ``ingest`` does with a ``MetricBatch``, without building a model per point);
        return the latest time among them (0 when none is later).

        Examples
        --------
        >>> stage = DetectionStage()
        >>> stage.observe_points("api", [("cpu", 0.5, 10.0, ""), ("cpu", 0.6, 20.0, "i-1")])
        20.0
        >>> stage.series_count()
        2
        """
        series = self._series.get(service)
        if series is None:
            series = self._series[service] = {}
        new = self.config.new_monitor
        latest = 0.0
        for name, value, t, instance in points:
            key = f"{name}@{instance}" if instance else name
            m = series.get(key)
            if m is None:
                m = series[key] = new()
            m.observe(value, t)
            if t > latest:
                latest = t
        if latest > self._now:
            self._now = latest
        return latest

    def on_change(self, change: ChangeEvent) -> None:
        """A deploy, config change, maintenance...: opens a suppression lease for its service."""
        st = self._services.setdefault(change.service, _ServiceState())
        st.changes.append(change)
        self._now = max(self._now, change.ts.timestamp())

    def on_silence(self, silence: Silence) -> None:
        self._silences[silence.silence_id] = silence

    def on_log(self, log: LogEvent) -> None:
        if log.level not in ("error", "critical"):
            return
        st = self._services.setdefault(log.service, _ServiceState())
        cls = log.error_class or "error"
        st.log_counts[cls] = st.log_counts.get(cls, 0) + 1
        t = log.ts.timestamp()
        if st.log_window_start is None:
            st.log_window_start = t

    def on_health(self, hc: HealthCheck) -> None:
        inst = hc.instance or "all"
        self.observe(hc.service, "health_failed", 0.0 if hc.ok else 1.0, hc.ts.timestamp(), inst)

    # -- output ----------------------------------------------------------------------------
    def flush(self, now: float) -> tuple[list[Anomaly], list[ServiceHealth]]:
        """What to emit at event time ``now``: anomaly transitions and due health summaries."""
        self._now = max(self._now, now)
        self._flush_logs(now)
        anomalies: list[Anomaly] = []
        health: list[ServiceHealth] = []
        for svc, by_name in self._series.items():
            series = list(by_name.items())
            st = self._services.setdefault(svc, _ServiceState())
            a = self._transition(svc, st, series, now)
            if a is not None:
                anomalies.append(a)
            if now - st.last_health >= self.config.health_interval_s:
                st.last_health = now
                health.append(self._health(svc, st, series, now))
        self._evict(now)
        return anomalies, health

    def _flush_logs(self, now: float) -> None:
        for svc, st in list(self._services.items()):
            start = st.log_window_start
            if start is None:
                # Count error logs (zero included) of every known service, so a first burst
                # stands out against a learned quiet.
                st.log_window_start = now
                continue
            if now - start < self.config.log_interval_s:
                continue
            total = sum(st.log_counts.values())
            if total == 0 and not self._reporting(svc, now):
                st.log_window_start = None  # a silent service gets no made-up zeros: it may go
                continue
            self.observe(svc, "log_errors", float(total), now)
            # One series per error class seen on this service, so a burst names its class.
            for cls in list(st.log_counts):
                self.observe(svc, f"log_errors:{cls}", float(st.log_counts[cls]), now)
                st.log_counts[cls] = 0
            st.log_window_start = now

    def _reporting(self, svc: str, now: float) -> bool:
        """Whether ``svc`` still sends telemetry other than its error-log counts."""
        horizon = now - 4 * self.config.log_interval_s
        return any(
            m.last_t >= horizon
            for name, m in self._series.get(svc, {}).items()
            if not name.startswith("log_errors")
        )

    def _transition(
        self, svc: str, st: _ServiceState, series: _Named, now: float
    ) -> Anomaly | None:
        firing = {n for n, s in series if s.firing}
        if not firing and st.anomaly_id is None:
            return None
        if not firing:
            a = self._anomaly(svc, st, series, now, status="resolved")
            st.anomaly_id, st.emitted_signals, st.suppressed_by = None, frozenset(), None
            return a
        suppressor = self._suppressor(svc, now)
        new_episode = st.anomaly_id is None
        if new_episode:
            st.anomaly_id = new_id("anom")
            st.onset = min(s.onset or s.last_t for n, s in series if n in firing)
        changed = frozenset(firing) != st.emitted_signals or suppressor != st.suppressed_by
        if not changed:
            return None
        st.emitted_signals, st.suppressed_by = frozenset(firing), suppressor
        return self._anomaly(svc, st, series, now, status="firing")

    def _suppressor(self, svc: str, now: float) -> str | None:
        for sil in self._silences.values():
            in_window = sil.starts_at.timestamp() <= now < sil.ends_at.timestamp()
            if in_window and sil.service in (svc, "*"):
                return sil.silence_id
        st = self._services.get(svc)
        for ch in reversed(st.changes if st else []):
            if ch.change_type in _LEASED_CHANGES:
                end = (ch.ends_at.timestamp() if ch.ends_at else ch.ts.timestamp()) + (
                    self.config.lease_s
                )
                if ch.ts.timestamp() <= now < end:
                    return ch.change_id
        return None

    def _anomaly(
        self,
        svc: str,
        st: _ServiceState,
        series: _Named,
        now: float,
        status: str,
    ) -> Anomaly:
        cfg = self.config
        signals = [
            AnomalousSignal(
                name=n.split("@")[0],
                value=s.last_value,
                baseline=s.detector.baseline() or 0.0,
                score=min(1.0, max(0.0, s.score)),
                direction="up" if s.last_value >= (s.detector.baseline() or 0.0) else "down",
                onset=to_datetime(s.onset or s.last_t),
            )
            for n, s in series
            if s.firing
            or s.score >= cfg.evidence_threshold
            or (n.startswith("log_errors:") and s.last_value > 0)
        ]
        signals.sort(key=lambda g: -g.score)
        changes = [
            ChangeRef(
                change_id=c.change_id,
                service=c.service,
                change_type=str(c.change_type),
                ts=c.ts,
                version=c.version,
                previous_version=c.previous_version,
                expires_at=c.expires_at,
            )
            for c in st.changes
            if now - c.ts.timestamp() <= cfg.change_memory_s
        ][-8:]
        top = max((g.score for g in signals), default=0.0)
        names = ", ".join(g.name for g in signals[:4])
        return Anomaly(
            anomaly_id=st.anomaly_id or new_id("anom"),
            service=svc,
            domain=self.domains.get(svc, "default"),
            ts=to_datetime(now),
            onset=to_datetime(st.onset or now),
            status="firing" if status == "firing" else "resolved",
            score=top,
            signals=signals[:64],
            changes=changes,
            suppressed=st.suppressed_by is not None,
            suppressed_by=st.suppressed_by,
            summary=f"{svc}: {status} ({names})" if names else f"{svc}: {status}",
        )

    def _health(self, svc: str, st: _ServiceState, series: _Named, now: float) -> ServiceHealth:
        slis = {n: s.last_value for n, s in series if "@" not in n}
        base = {
            n: b for n, s in series if "@" not in n and (b := s.detector.baseline()) is not None
        }
        return ServiceHealth(
            service=svc,
            domain=self.domains.get(svc, "default"),
            ts=to_datetime(now),
            anomalous=any(s.firing for _, s in series),
            slis=slis,
            baselines=base,
            active=sorted(n for n, s in series if s.firing),
        )

    def _evict(self, now: float) -> None:
        horizon = now - self.config.evict_after_s
        for svc, by_name in list(self._series.items()):
            for key in [k for k, m in by_name.items() if m.last_t < horizon]:
                del by_name[key]
            if not by_name:
                del self._series[svc]
        for svc, st in list(self._services.items()):
            st.changes = [
                c for c in st.changes if now - c.ts.timestamp() <= self.config.change_memory_s
            ]
            idle = st.anomaly_id is None and not st.changes and st.log_window_start is None
            if idle and svc not in self._series:
                del self._services[svc]
        for sid in [k for k, s in self._silences.items() if s.ends_at.timestamp() < now]:
            del self._silences[sid]

    # -- state -----------------------------------------------------------------------------
    def series_count(self) -> int:
        return sum(len(by_name) for by_name in self._series.values())

    def seen(self, service: str) -> dict[str, int]:
        """How many values each series of ``service`` has seen (``name`` or ``name@instance``)."""
        return {key: m.n for key, m in self._series.get(service, {}).items()}

    def services(self) -> list[str]:
        """The services this stage holds state for."""
        return sorted(set(self._series) | set(self._services))

    def snapshot(self, service: str) -> bytes:
        """The whole detection state of ``service`` (its series and its episode), as bytes."""
        state = (service, self._series.get(service, {}), self._services.get(service))
        return _snapshot.dump(state)

    def restore(self, data: bytes) -> str:
        """Take over a service from a :meth:`snapshot` (replacing what this stage had for it).

        Returns the service's name; raises ``DecodeError`` for bytes that are not a snapshot.
        """
        state = _snapshot.load(data)
        if not (isinstance(state, tuple) and len(state) == 3 and isinstance(state[0], str)):
            msg = "detection snapshot has an unexpected shape"
            raise DecodeError(msg)
        service, series, st = state
        self._series.pop(service, None)
        self._services.pop(service, None)
        if series:
            self._series[service] = series
            self._now = max(self._now, max(m.last_t for m in series.values()))
        if st is not None:
            self._services[service] = st
        return str(service)

    def drop(self, services: Iterable[str]) -> None:
        """Forget ``services`` (their partition moved to another worker)."""
        for svc in services:
            self._series.pop(svc, None)
            self._services.pop(svc, None)
