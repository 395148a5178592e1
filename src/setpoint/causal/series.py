"""An adapter over the detect stage's public outputs: the recent values of every series.

Detection publishes, per service and at every health interval, the last value of each series
(``ServiceHealth.slis``) and, for firing services, the anomalous signals. Diagnosis needs more
than the alert decision: how far *every* series of *every* service moved at an incident's onset,
including the ones below the paging threshold (a callee's latency that rose by three deviations
explains its caller's page). :class:`SeriesStore` rebuilds a bounded history of each series from
those outputs and measures robust deviations around an onset.

If the detect stage one day publishes per-series scores and spreads, :meth:`SeriesStore.deviation`
is the one place to switch over.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from setpoint.causal._buffer import Baseline, Buffer
from setpoint.causal.metrics import MetricKind, classify
from setpoint.schemas import AnomalousSignal, Anomaly, ServiceHealth

__all__ = ["Deviation", "SeriesStore"]


class Deviation(NamedTuple):
    """How one series moved at an onset, measured against its own recent past.

    Attributes
    ----------
    z
        The robust deviation after the onset that held for ``persistence`` values, signed
        (``+`` is up).
    delta
        Mean after the onset minus median before it, in the series' own unit.
    baseline
        Median before the onset.
    flat
        The series was constant before the onset (any change is new, its scale unknown).
    idle
        The series was constantly zero before the onset (it just became active).
    onset
        Time of the first value after the onset that deviated by more than ``onset_z``
        (the onset itself when none did).
    """

    service: str
    name: str
    z: float
    delta: float
    baseline: float
    flat: bool
    idle: bool
    onset: float
    n_before: int
    n_after: int


class SeriesStore:
    """Bounded recent values of every series, fed from ``ServiceHealth`` and ``Anomaly`` values.

    Parameters
    ----------
    max_points
        Values kept per series (oldest dropped first).
    baseline_points
        At most this many values before an onset form the baseline.
    min_baseline
        Fewer values than this before an onset: no deviation is measured.
    spread_floor
        Smallest spread, as a fraction of the baseline's magnitude, for series that vary.
    flat_floor
        The same for series that were constant (a tiny change from a constant is news).
    flat_cap
        Largest deviation credited to a series that was constant (its scale is unknown).
    onset_z
        A value this many deviations away marks the series' own onset.
    persistence
        A deviation counts only as far as it held for this many values after the onset (the
        ``persistence``-th largest one): one spike is not a shift, as in detection's
        ``min_duration``.
    judged_s
        Signals of anomalies whose onset is this close before an incident's onset stand in for
        series without enough history (as detection judged them).
    born_s
        An error series first seen this close before an onset is a new error class: it is
        measured from zero.

    Examples
    --------
    >>> from setpoint.clock import to_datetime
    >>> store = SeriesStore()
    >>> for t in range(30):
    ...     v = 100.0 + (t % 3) if t < 27 else 160.0
    ...     store.on_health(ServiceHealth(service="api", ts=to_datetime(t), anomalous=False,
    ...                                   slis={"latency_ms": v}))
    >>> d = store.deviation("api", "latency_ms", onset=27.0)
    >>> round(d.delta, 1), d.z > 10, d.onset
    (59.0, True, 27.0)
    """

    def __init__(
        self,
        max_points: int = 512,
        baseline_points: int = 240,
        min_baseline: int = 3,
        spread_floor: float = 0.05,
        flat_floor: float = 1e-3,
        flat_cap: float = 10.0,
        onset_z: float = 3.0,
        persistence: int = 2,
        judged_s: float = 600.0,
        born_s: float = 300.0,
    ) -> None:
        self.max_points = max_points
        self.baseline_points = baseline_points
        self.min_baseline = min_baseline
        self.spread_floor = spread_floor
        self.flat_floor = flat_floor
        self.flat_cap = flat_cap
        self.onset_z = onset_z
        self.persistence = persistence
        self.judged_s = judged_s
        self.born_s = born_s
        self._series: dict[str, dict[str, Buffer]] = {}
        self._judged: dict[str, dict[str, AnomalousSignal]] = {}

    # -- input -----------------------------------------------------------------------------
    def on_health(self, health: ServiceHealth) -> None:
        """Record the last value of every series of one service."""
        t = health.ts.timestamp()
        for name, value in health.slis.items():
            self._append(health.service, name, t, value)

    def on_anomaly(self, anomaly: Anomaly) -> None:
        """Record the values an anomaly carries, and keep its signals as detection judged them:
        they stand in for series this store has too little history of."""
        t = anomaly.ts.timestamp()
        judged = self._judged.setdefault(anomaly.service, {})
        for sig in anomaly.signals:
            self._append(anomaly.service, sig.name, t, sig.value)
            judged[sig.name] = sig

    def add(self, service: str, name: str, t: float, value: float) -> None:
        """Record one value directly (tests, replays)."""
        self._append(service, name, t, value)

    def _append(self, service: str, name: str, t: float, value: float) -> None:
        by_name = self._series.setdefault(service, {})
        buf = by_name.get(name)
        if buf is None:
            buf = by_name[name] = Buffer(self.max_points)
        buf.append(t, value)

    def forget_before(self, t: float) -> None:
        """Drop values older than ``t`` (and series left empty)."""
        for svc in list(self._series):
            by_name = self._series[svc]
            for name in list(by_name):
                if not by_name[name].drop_before(t):
                    del by_name[name]
            if not by_name:
                del self._series[svc]

    def take(
        self, services: Iterable[str]
    ) -> dict[str, tuple[dict[str, Buffer], dict[str, AnomalousSignal]]]:
        """The values and judged signals of ``services`` (to hand them to another worker)."""
        return {
            s: (self._series.get(s, {}), self._judged.get(s, {}))
            for s in services
            if s in self._series or s in self._judged
        }

    def put(self, parts: dict[str, tuple[dict[str, Buffer], dict[str, AnomalousSignal]]]) -> None:
        """Take over what :meth:`take` gave (replacing what this store had of those services)."""
        for svc, (series, judged) in parts.items():
            self._series.pop(svc, None)
            self._judged.pop(svc, None)
            if series:
                self._series[svc] = series
            if judged:
                self._judged[svc] = judged

    def drop(self, services: Iterable[str]) -> None:
        """Forget ``services`` (their partition moved to another worker)."""
        for svc in services:
            self._series.pop(svc, None)
            self._judged.pop(svc, None)

    def drop_baselines(self) -> None:
        """Forget the baseline statistics kept between revisions (the next diagnosis of each
        incident recomputes them)."""
        for by_name in self._series.values():
            for buf in by_name.values():
                buf.baselines.clear()

    # -- queries ---------------------------------------------------------------------------
    def services(self) -> list[str]:
        return list(self._series)

    def names(self, service: str) -> list[str]:
        return list(self._series.get(service, {}))

    def deviations(self, services: Iterable[str], onset: float) -> list[Deviation]:
        """Every measurable deviation of the given services' series at ``onset``.

        Baselines not yet known are computed together, one numpy call per baseline length,
        which is what keeps a first diagnosis over thousands of series in milliseconds.
        """
        todo: list[tuple[str, str, Buffer, np.ndarray, np.ndarray, int, int]] = []
        born: list[Deviation] = []
        for svc in services:
            for name, buf in self._series.get(svc, {}).items():
                times, values = buf.arrays()
                cut = int(times.searchsorted(onset))
                lo = max(0, cut - self.baseline_points)
                if self._born(name, times, onset):
                    born.append(self._new_errors(svc, name, times, values))
                elif cut - lo >= self.min_baseline and cut < len(times):
                    todo.append((svc, name, buf, times, values, lo, cut))
        bases = self._fill_baselines([(t[2], t[5], t[6], onset) for t in todo])
        measure = self._measure
        out = [
            measure(svc, name, base, times[cut:], values[cut:], onset)
            for (svc, name, _, times, values, _, cut), base in zip(todo, bases, strict=True)
        ]
        out += born
        measured = {(t[0], t[1]) for t in todo} | {(d.service, d.name) for d in born}
        for svc in services:
            for name, sig in self._judged.get(svc, {}).items():
                if (svc, name) not in measured and sig.onset.timestamp() >= onset - self.judged_s:
                    out.append(self._from_detection(svc, sig))
        return out

    def _born(self, name: str, times: np.ndarray, onset: float) -> bool:
        """An error series first seen ``born_s`` or less before the onset (or after it): a new
        error class (the detect stage starts a ``log_errors:<class>`` series on its first
        error), whose values are all part of the incident."""
        return (
            len(times) > 0
            and times[0] >= onset - self.born_s
            and times[-1] >= onset
            and classify(name).kind is MetricKind.ERRORS
        )

    def _new_errors(
        self, service: str, name: str, times: np.ndarray, values: np.ndarray
    ) -> Deviation:
        """An error series that did not exist before the onset (a new error class): errors
        nobody counted were zero, so it moved from a constant zero."""
        mean = float(values.mean())
        z = self.flat_cap if mean > 0 else 0.0
        return Deviation(service, name, z, mean, 0.0, True, False, float(times[0]), 0, len(values))

    def _from_detection(self, service: str, sig: AnomalousSignal) -> Deviation:
        """A deviation as detection judged it: its score (0 to 1) read as up to ``flat_cap``
        deviations, the way it went."""
        z = sig.score * self.flat_cap * (1.0 if sig.direction == "up" else -1.0)
        return Deviation(
            service, sig.name, z, sig.value - sig.baseline, sig.baseline, False, False,
            sig.onset.timestamp(), 0, 1,
        )  # fmt: skip

    def deviation(self, service: str, name: str, onset: float) -> Deviation | None:
        """How ``service``/``name`` moved from before ``onset`` to the latest value."""
        buf = self._series.get(service, {}).get(name)
        found = self._window(buf, onset) if buf is not None else None
        if buf is None or found is None:
            return None
        lo, cut = found
        base = self._fill_baselines([(buf, lo, cut, onset)])[0]
        times, values = buf.arrays()
        return self._measure(service, name, base, times[cut:], values[cut:], onset)

    def departures(
        self, series: Iterable[tuple[str, str, int]], start: float, alert: float
    ) -> list[float]:
        """When each ``(service, name, bad)`` series started the deviation it shows at
        ``alert``: walking back from the alert while it stays off its baseline (the values
        before ``start``) the ``bad`` way (+1 up, -1 down, 0 either), for at least
        ``persistence`` values. Series not off at the alert are left out. It finds the change
        point an alert that fired late missed."""
        todo = []
        for service, name, bad in series:
            buf = self._series.get(service, {}).get(name)
            found = self._window(buf, start) if buf is not None else None
            if buf is not None and found is not None:
                todo.append((buf, found, bad))
        bases = self._fill_baselines([(buf, lo, cut, start) for buf, (lo, cut), _ in todo])
        out = []
        for (buf, (_, cut), bad), base in zip(todo, bases, strict=True):
            t = self._walk_back(buf, cut, alert, bad, base)
            if t is not None:
                out.append(t)
        return out

    def _walk_back(
        self, buf: Buffer, cut: int, alert: float, bad: int, base: Baseline
    ) -> float | None:
        times, values = buf.arrays()
        end = int(times.searchsorted(alert, side="right"))
        i, first = end - 1, None
        while i >= cut:
            dev = (float(values[i]) - base.median) / base.spread
            if (dev * bad if bad else abs(dev)) < self.onset_z:
                break
            first, i = i, i - 1
        if first is None or end - first < self.persistence:
            return None
        return float(times[first])

    def _window(self, buf: Buffer, onset: float) -> tuple[int, int] | None:
        """Indices of the baseline (``lo:cut``) before ``onset``; ``None`` if unmeasurable."""
        times, _ = buf.arrays()
        cut = int(np.searchsorted(times, onset, side="left"))
        lo = max(0, cut - self.baseline_points)
        if cut - lo < self.min_baseline or cut == len(times):
            return None
        return lo, cut

    def _fill_baselines(self, wanted: list[tuple[Buffer, int, int, float]]) -> list[Baseline]:
        """The baselines of ``buffer[lo:cut]`` before each onset: kept ones reused, the missing
        ones computed together, one numpy call per baseline length."""
        out: list[Baseline | None] = []
        groups: dict[int, list[tuple[int, Buffer, tuple[float, float, int], np.ndarray]]] = {}
        for i, (buf, lo, cut, onset) in enumerate(wanted):
            times, values = buf.arrays()
            key = (onset, float(times[lo]), cut - lo)
            out.append(buf.baselines.get(key))
            if out[-1] is None:
                groups.setdefault(cut - lo, []).append((i, buf, key, values[lo:cut]))
        for rows in groups.values():
            stats = Baseline.many(np.stack([r[3] for r in rows]), self)
            for (i, buf, key, _), base in zip(rows, stats, strict=True):
                buf.keep(key, base)
                out[i] = base
        return [b for b in out if b is not None]

    def _measure(
        self,
        service: str,
        name: str,
        base: Baseline,
        times: np.ndarray,
        after: np.ndarray,
        onset: float,
    ) -> Deviation:
        # The values after an onset are few: plain floats beat numpy's per-call overhead here.
        values = after.tolist()
        med, spread = base.median, base.spread
        dev = [(v - med) / spread for v in values]
        k = max(1, min(self.persistence, len(dev)))
        z = max(dev, key=abs) if k == 1 else sorted(dev, key=abs, reverse=True)[k - 1]
        if base.flat:
            z = max(-self.flat_cap, min(self.flat_cap, z))
        oz = self.onset_z
        first = next((i for i, d in enumerate(dev) if d >= oz or d <= -oz), None)
        return Deviation(
            service=service,
            name=name,
            z=z,
            delta=sum(values) / len(values) - base.median,
            baseline=base.median,
            flat=base.flat,
            idle=base.flat and base.median == 0.0,
            onset=float(times[first]) if first is not None else onset,
            n_before=base.n,
            n_after=len(values),
        )
