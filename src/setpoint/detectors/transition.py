"""Surprise of the step from one coarse value level to the next: what a series has rarely done.

An online cousin of the contextual anomaly detector (CAD OSE, M. Smirnov): values are quantised
into a few levels and what the series does next is learned from what it did before. CAD OSE
quantises over the whole file's minimum and maximum and keeps every context it ever saw; this
detector quantises over the range seen *so far* (widened with a margin when a value leaves it)
and keeps a first-order transition table of small, periodically halved counts, so its state is
a few hundred bytes whatever the length of the series.
"""

from __future__ import annotations

import math
from array import array

from setpoint.detectors.base import Detector, register

_ROW_CAP = 2048
"""A row of the table is halved when its total reaches this (a forgetting horizon of ~1,500)."""
_CELL_CAP = 255
"""... or when one of its counts reaches this (the counts are bytes: the state stays small)."""


@register("transition")
class TransitionSurprise(Detector):
    """``-log2 P(level now | level before)`` under a learned table of level transitions.

    A value that lands in a level the series has never or rarely reached from where it was is
    surprising, however small its distance from the mean: a dip to a value seen only at other
    times, a rise the series never makes at that pace, a level shift into a band it avoids.

    Parameters
    ----------
    levels
        Number of equal-width levels between the lowest and highest values seen so far.
    margin
        When a value leaves the range, the range is widened past it by this fraction of its new
        width, so the levels do not move again at the next slightly larger value.
    prior
        Pseudo-count of every transition (the surprise of a never-seen one is finite).
    scale
        The surprise, in bits, at which the score reaches 0.5.
    warmup
        Samples scored 0 while the range and the table settle.

    Examples
    --------
    >>> d = TransitionSurprise(warmup=50)
    >>> for i in range(600):
    ...     _ = d.update(10.0 + (i % 4), t=60.0 * i)
    >>> d.score_one(10.0) < 0.3 < 0.7 < d.score_one(11.5)  # after 13 comes 10, never 11.5
    True
    """

    __slots__ = (
        "_hi",
        "_lo",
        "_n",
        "_prev",
        "_table",
        "_totals",
        "levels",
        "margin",
        "prior",
        "scale",
        "warmup",
    )

    def __init__(
        self,
        levels: int = 16,
        margin: float = 0.5,
        prior: float = 0.01,
        scale: float = 4.0,
        warmup: int = 200,
    ) -> None:
        self.levels = levels
        self.margin = margin
        self.prior = prior
        self.scale = scale
        self.warmup = warmup
        self._n = 0
        self._lo = math.inf
        self._hi = -math.inf
        self._prev = 0
        self._table = array("B", [0]) * (levels * levels)  # row: the level before
        self._totals = array("H", [0]) * levels

    def _range(self, x: float) -> tuple[float, float]:
        lo, hi = self._lo, self._hi
        if lo <= x <= hi:
            return lo, hi
        if self._n == 0:
            return x, x
        new_lo, new_hi = min(lo, x), max(hi, x)
        widen = self.margin * (new_hi - new_lo)
        return (new_lo - widen if x < lo else new_lo), (new_hi + widen if x > hi else new_hi)

    def _level(self, x: float, lo: float, hi: float) -> int:
        if not hi > lo:
            return 0
        return min(max(int((x - lo) / (hi - lo) * self.levels), 0), self.levels - 1)

    def surprise(self, x: float) -> float:
        """Bits of surprise of ``x`` after the previous value (no state change)."""
        lo, hi = self._range(x)
        count = self._table[self._prev * self.levels + self._level(x, lo, hi)]
        p = (count + self.prior) / (self._totals[self._prev] + self.prior * self.levels)
        return -math.log2(p)

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < self.warmup:
            return 0.0
        u = self.surprise(x) / self.scale
        return u / (1.0 + u)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._lo, self._hi = lo, hi = self._range(x)
        s = self._level(x, lo, hi)
        prev, n = self._prev, self.levels
        cell = prev * n + s
        table = self._table
        table[cell] += 1
        self._totals[prev] += 1
        if table[cell] >= _CELL_CAP or self._totals[prev] >= _ROW_CAP:
            for j in range(prev * n, prev * n + n):  # forget: halve the row, keep its total exact
                table[j] >>= 1
            self._totals[prev] = sum(table[prev * n : prev * n + n])
        self._prev = s
        self._n += 1
