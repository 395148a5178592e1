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

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from setpoint.schemas import Anomaly, ServiceHealth

__all__ = ["Deviation", "SeriesStore"]


@dataclass(frozen=True)
class Deviation:
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
    ) -> None:
        self.max_points = max_points
        self.baseline_points = baseline_points
        self.min_baseline = min_baseline
        self.spread_floor = spread_floor
        self.flat_floor = flat_floor
        self.flat_cap = flat_cap
        self.onset_z = onset_z
        self.persistence = persistence
        self._series: dict[str, dict[str, deque[tuple[float, float]]]] = {}

    # -- input -----------------------------------------------------------------------------
    def on_health(self, health: ServiceHealth) -> None:
        """Record the last value of every series of one service."""
        t = health.ts.timestamp()
        for name, value in health.slis.items():
            self._append(health.service, name, t, value)

    def on_anomaly(self, anomaly: Anomaly) -> None:
        """Record the values an anomaly carries (useful when health summaries are sparse)."""
        t = anomaly.ts.timestamp()
        for sig in anomaly.signals:
            self._append(anomaly.service, sig.name, t, sig.value)

    def add(self, service: str, name: str, t: float, value: float) -> None:
        """Record one value directly (tests, replays)."""
        self._append(service, name, t, value)

    def _append(self, service: str, name: str, t: float, value: float) -> None:
        by_name = self._series.setdefault(service, {})
        buf = by_name.get(name)
        if buf is None:
            buf = by_name[name] = deque(maxlen=self.max_points)
        if buf and buf[-1][0] == t:
            buf[-1] = (t, value)
        elif not buf or buf[-1][0] < t:
            buf.append((t, value))

    def forget_before(self, t: float) -> None:
        """Drop values older than ``t`` (and series left empty)."""
        for svc in list(self._series):
            by_name = self._series[svc]
            for name in list(by_name):
                buf = by_name[name]
                while buf and buf[0][0] < t:
                    buf.popleft()
                if not buf:
                    del by_name[name]
            if not by_name:
                del self._series[svc]

    # -- queries ---------------------------------------------------------------------------
    def services(self) -> list[str]:
        return list(self._series)

    def names(self, service: str) -> list[str]:
        return list(self._series.get(service, {}))

    def deviations(self, services: Iterable[str], onset: float) -> list[Deviation]:
        """Every measurable deviation of the given services' series at ``onset``."""
        out: list[Deviation] = []
        for svc in services:
            for name in self._series.get(svc, {}):
                d = self.deviation(svc, name, onset)
                if d is not None:
                    out.append(d)
        return out

    def deviation(self, service: str, name: str, onset: float) -> Deviation | None:
        """How ``service``/``name`` moved from before ``onset`` to the latest value."""
        buf = self._series.get(service, {}).get(name)
        if not buf:
            return None
        arr = np.asarray(buf, dtype=float)
        cut = int(np.searchsorted(arr[:, 0], onset, side="left"))
        before = arr[max(0, cut - self.baseline_points) : cut, 1]
        after = arr[cut:]
        if len(before) < self.min_baseline or len(after) == 0:
            return None
        return self._measure(service, name, before, after, onset)

    def _measure(
        self, service: str, name: str, before: np.ndarray, after: np.ndarray, onset: float
    ) -> Deviation:
        med = float(np.median(before))
        std = float(np.std(before))
        flat = std == 0.0
        q75, q25 = np.percentile(before, [75, 25])
        mad = 1.4826 * float(np.median(np.abs(before - med)))
        floor = (self.flat_floor if flat else self.spread_floor) * abs(med)
        spread = max(std, float(q75 - q25) / 1.349, mad, floor, 1e-9)
        dev = (after[:, 1] - med) / spread
        k = max(1, min(self.persistence, len(dev)))
        z = float(dev[np.argsort(-np.abs(dev), kind="stable")[k - 1]])
        if flat:
            z = max(-self.flat_cap, min(self.flat_cap, z))
        strong = np.nonzero(np.abs(dev) >= self.onset_z)[0]
        return Deviation(
            service=service,
            name=name,
            z=z,
            delta=float(np.mean(after[:, 1])) - med,
            baseline=med,
            flat=flat,
            idle=flat and med == 0.0,
            onset=float(after[strong[0], 0]) if len(strong) else onset,
            n_before=len(before),
            n_after=len(after),
        )
