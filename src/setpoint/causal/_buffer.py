"""Storage under :class:`~setpoint.causal.series.SeriesStore`: a bounded numpy buffer per series
and the robust statistics of a baseline, computed many series at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class _Floors(Protocol):
    spread_floor: float
    flat_floor: float


@dataclass(frozen=True)
class Baseline:
    """Robust statistics of the values before an onset (kept between an incident's revisions)."""

    median: float
    spread: float
    flat: bool
    n: int

    @classmethod
    def many(cls, rows: np.ndarray, store: _Floors) -> list[Baseline]:
        """The baselines of equally long series, one per row, computed together."""
        srt = np.sort(rows, axis=1)
        med = _quantiles(srt, 0.5)
        std = rows.std(axis=1)
        iqr = _quantiles(srt, 0.75) - _quantiles(srt, 0.25)
        mad = 1.4826 * _quantiles(np.sort(np.abs(srt - med[:, None]), axis=1), 0.5)
        flat = std == 0.0
        floor = np.where(flat, store.flat_floor, store.spread_floor) * np.abs(med)
        spread = np.maximum.reduce([std, iqr / 1.349, mad, floor, np.full_like(std, 1e-9)])
        n = rows.shape[1]
        return [
            cls(m, sp, f, n)
            for m, sp, f in zip(med.tolist(), spread.tolist(), flat.tolist(), strict=True)
        ]


def _quantiles(srt: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated quantile of each row of a row-sorted matrix (numpy's default)."""
    pos = q * (srt.shape[1] - 1)
    i = int(pos)
    j = min(i + 1, srt.shape[1] - 1)
    result: np.ndarray = srt[:, i] + (srt[:, j] - srt[:, i]) * (pos - i)
    return result


class Buffer:
    """The last ``capacity`` ``(t, value)`` of one series, in time order, as numpy views.

    Appends go to the end of arrays twice the capacity; when they fill up, the newest half is
    moved to the front (amortised O(1) per value, and reads are views, never copies).
    """

    __slots__ = ("_n", "_t", "_v", "baselines", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._t = np.empty(2 * capacity)
        self._v = np.empty(2 * capacity)
        self._n = 0
        self.baselines: dict[tuple[float, float, int], Baseline] = {}

    def __getstate__(self) -> tuple[int, np.ndarray, np.ndarray]:
        # Only what ``arrays`` shows: a hand-over snapshot carries no spare capacity and no
        # cached baselines (the next diagnosis recomputes them).
        times, values = self.arrays()
        return self.capacity, times.copy(), values.copy()

    def __setstate__(self, state: tuple[int, np.ndarray, np.ndarray]) -> None:
        capacity, times, values = state
        self.__init__(capacity)  # type: ignore[misc]
        n = len(times)
        self._t[:n], self._v[:n] = times, values
        self._n = n

    def keep(self, key: tuple[float, float, int], base: Baseline) -> None:
        """Keep a baseline for reuse (the two most recent: an incident's onset and the start
        of its change-point search)."""
        self.baselines[key] = base
        while len(self.baselines) > 2:
            del self.baselines[next(iter(self.baselines))]

    def append(self, t: float, value: float) -> None:
        n = self._n
        if n and self._t[n - 1] >= t:
            if self._t[n - 1] == t:  # a second value for the same instant replaces the first
                self._v[n - 1] = value
            return  # an older value than the newest one: out of order, dropped
        if n == len(self._t):
            keep = self.capacity - 1
            self._t[:keep] = self._t[n - keep : n]
            self._v[:keep] = self._v[n - keep : n]
            n = keep
        self._t[n], self._v[n] = t, value
        self._n = n + 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        lo = max(0, self._n - self.capacity)
        return self._t[lo : self._n], self._v[lo : self._n]

    def drop_before(self, t: float) -> bool:
        """Forget values older than ``t``; whether any value is left."""
        times, values = self.arrays()
        cut = int(np.searchsorted(times, t, side="left"))
        if cut:
            rest = len(times) - cut
            self._t[:rest], self._v[:rest] = times[cut:].copy(), values[cut:].copy()
            self._n = rest
        return self._n > 0
