"""The alert decision of one series: a score becomes firing / not firing, with hygiene.

One class, used by the detect stage and by ``setpoint detect --alerts`` alike, so what the CLI
measures is what the stream stage decides.
"""

from __future__ import annotations

import math


class Alerter:
    """Per-series alert state: adaptive threshold, minimum duration, hysteresis, warm-up.

    A sample is *abnormal* when its score reaches the series' threshold: ``threshold``, raised to
    ``mean + spread * std`` of the scores the series usually produces when that is higher (a
    series whose normal scores run high must not page all day). A sample at or above ``page``
    fires at once; other abnormal samples fire after ``min_duration`` in a row, so one moderate
    blip does not flap. A firing series clears after ``recovery`` samples in a row below
    ``clear`` times the threshold (hysteresis) whose value is also back within ``hold`` robust
    scales of normal (a persisting degradation keeps firing after its score stops rising).

    Parameters
    ----------
    threshold
        Lowest threshold of an abnormal sample.
    page
        A score this high fires immediately (a severe, novel excursion).
    min_duration
        Abnormal samples in a row before a moderate excursion fires.
    recovery
        Samples in a row below the clear level before a firing series clears.
    clear
        The clear level, as a fraction of the threshold.
    warmup
        Samples a series must have seen before it may fire.
    alpha
        Weight of a new normal score in the running mean and variance of the scores.
    spread
        How many standard deviations above its usual scores the threshold sits at least.
    hold
        While firing, a value at least this far from normal (the detector's ``deviation``) keeps
        the series firing.
    sustain
        ``None`` (the default): only scores make a sample abnormal. Otherwise a sample whose
        value is at least this far from normal (the detector's ``deviation``) is abnormal
        whatever its score. With ``min_duration`` above 1 and ``page`` out of reach, this is how
        a series of 10-second infrastructure metrics pages on a degradation that *lasts*, not on
        one odd sample: the novelty score marks the onset (and may rest after it), the distance
        from normal confirms it sample after sample.

    Examples
    --------
    >>> a = Alerter(threshold=0.7, page=0.95, recovery=3, clear=0.8, warmup=3)
    >>> [a.step(s) for s in [0.1, 0.2, 0.1, 0.1, 0.8, 0.1, 0.8, 0.8, 0.5, 0.1, 0.1, 0.1]]
    [False, False, False, False, False, False, False, True, True, True, False, False]
    >>> a.step(0.99)
    True
    >>> b = Alerter(threshold=0.6, page=1.01, min_duration=3, warmup=0, sustain=8.0)
    >>> [b.step(s, deviation=d) for s, d in [(0.9, 9.0), (0.0, 1.0), (0.9, 9.0), (0.0, 9.0),
    ...                                       (0.0, 9.0)]]
    [False, False, False, False, True]
    """

    __slots__ = (
        "_mean",
        "_n",
        "_var",
        "above",
        "alpha",
        "below",
        "clear",
        "firing",
        "hold",
        "min_duration",
        "onset",
        "page",
        "recovery",
        "spread",
        "sustain",
        "threshold",
        "warmup",
    )

    def __init__(
        self,
        threshold: float = 0.6,
        page: float = 0.67,
        min_duration: int = 2,
        recovery: int = 1,
        clear: float = 0.9,
        warmup: int = 20,
        alpha: float = 0.01,
        spread: float = 6.0,
        hold: float = 6.0,
        sustain: float | None = None,
    ) -> None:
        self.threshold = threshold
        self.page = page
        self.min_duration = min_duration
        self.recovery = recovery
        self.clear = clear
        self.warmup = warmup
        self.alpha = alpha
        self.spread = spread
        self.hold = hold
        self.sustain = sustain
        self._n = 0
        self._mean = 0.0
        self._var = 0.0
        self.above = 0
        self.below = 0
        self.firing = False
        self.onset: float | None = None

    def level(self) -> float:
        """The series' current threshold (adaptive, never above ``page``)."""
        if self._n * self.alpha < 1.0:  # too few scores to know what is usual for this series
            return self.threshold
        usual = self._mean + self.spread * math.sqrt(self._var)
        return min(self.page, max(self.threshold, usual))

    def step(self, score: float, t: float | None = None, deviation: float | None = None) -> bool:
        """Take one score (observed at ``t``) and return whether the series is firing.

        ``deviation`` is how far the value is from normal in robust scales, if known.
        """
        thr = self.level()
        self._n += 1
        if score < thr:
            self._learn(score)
        if self._n <= self.warmup:
            return self.firing
        if self.firing:
            held = deviation is not None and deviation >= self.hold
            self._while_firing(score, thr, held)
        else:
            far = self.sustain is not None and deviation is not None and deviation >= self.sustain
            self._while_quiet(score, thr, t, far)
        return self.firing

    def _learn(self, score: float) -> None:
        a = self.alpha if self._n > 1.0 / self.alpha else 1.0 / self._n
        d = score - self._mean
        self._mean += a * d
        self._var = (1.0 - a) * (self._var + a * d * d)

    def _while_quiet(self, score: float, thr: float, t: float | None, far: bool = False) -> None:
        if score < thr and not far:
            self.above = 0
            return
        self.above += 1
        if self.above == 1:
            self.onset = t
        if score >= self.page or self.above >= self.min_duration:
            self.firing = True
            self.below = 0

    def _while_firing(self, score: float, thr: float, held: bool) -> None:
        if held or score >= self.clear * thr:
            self.below = 0
            return
        self.below += 1
        if self.below >= self.recovery:
            self.firing = False
            self.above = 0
            self.onset = None
