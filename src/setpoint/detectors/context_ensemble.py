"""The default detector: the ensemble's residuals plus the surprise of the level transition.

:class:`~setpoint.detectors.ensemble.Ensemble` sees values far from normal (a point, a daily
profile, a sustained shift). It misses what is odd without being extreme: a dip the series has
made before but never from where it was, a rise at an unusual pace, a level shift into a band it
avoids after a bigger spike. :class:`~setpoint.detectors.transition.TransitionSurprise` sees
those. Each signal is judged against the series' own decaying record and the two are averaged,
so a value must be novel on both counts, or very novel on one, to score high.

After a high score the detector stays quiet for ``rest`` samples (the contextual detector CAD
OSE does the same): the onset of an excursion is what deserves attention, and the repeated
high scores of its aftermath are what pages people twice. A persisting degradation keeps firing
through the alert decision's hold (:meth:`deviation` is unaffected by the rest).
"""

from __future__ import annotations

from setpoint.detectors.base import register
from setpoint.detectors.ensemble import _RECORDS_FROM, Ensemble
from setpoint.detectors.transition import TransitionSurprise


@register("context_ensemble")
class ContextEnsemble(Ensemble):
    """Mean of the ensemble's novelty and the transition surprise's novelty, with a rest period.

    Parameters
    ----------
    levels, margin, prior
        The transition table's quantisation (see
        :class:`~setpoint.detectors.transition.TransitionSurprise`).
    surprise_weight
        Weight of the surprise's novelty against the ensemble's in the mean.
    rest
        Samples scored 0 after a sample scores at least ``rest_level``.
    rest_level
        The score that starts a rest period.
    **ensemble
        The remaining hyper-parameters are the ensemble's, with the same defaults.

    Examples
    --------
    >>> d = ContextEnsemble(warmup=50)
    >>> for i in range(400):
    ...     _ = d.update(10.0 + (i % 7) * 0.1, t=60.0 * i)
    >>> d.score_one(10.1, t=24000.0) < 0.5 < 0.9 < d.score_one(30.0, t=24000.0) < 1.0
    True
    >>> d.score_one(10.3, t=24000.0) > 0.5  # an ordinary value, but never right after 10.0
    True
    >>> d.update(30.0, t=24000.0) > 0.9, d.update(30.0, t=24060.0)  # the onset, then rest
    (True, 0.0)
    """

    __slots__ = (
        "_quiet",
        "_rec_surprise",
        "_transition",
        "levels",
        "margin",
        "prior",
        "rest",
        "rest_level",
        "surprise_weight",
    )

    def __init__(
        self,
        levels: int = 16,
        margin: float = 0.5,
        prior: float = 0.01,
        surprise_weight: float = 1.0,
        rest: int = 100,
        rest_level: float = 0.6,
        level_alpha: float = 0.001,
        scale_alpha: float = 0.01,
        shift_alpha: float = 0.1,
        shift_clip: float = 3.0,
        bins: int = 24,
        bin_alpha: float = 0.1,
        clip: float = 4.0,
        memory: float = 0.9995,
        sharpness: float = 4.0,
        warmup: int = 200,
        select: float = 0.8,
        outlier_weight: float = 0.25,
        min_scale: float = 0.0,
    ) -> None:
        super().__init__(
            level_alpha, scale_alpha, shift_alpha, shift_clip, bins, bin_alpha, clip, memory,
            sharpness, warmup, select, outlier_weight, min_scale,
        )  # fmt: skip
        self.levels = levels
        self.margin = margin
        self.prior = prior
        self.surprise_weight = surprise_weight
        self.rest = rest
        self.rest_level = rest_level
        self._transition = TransitionSurprise(levels, margin, prior)
        self._rec_surprise = 0.0
        self._quiet = 0

    def _raw(self, x: float, t: float | None, residuals: tuple[float, float], bits: float) -> float:
        point, shift = residuals
        q_values = max(point / max(self._rec_point, 1.0), shift / max(self._rec_shift, 1.0))
        q_surprise = bits / max(self._rec_surprise, 1.0)
        w = self.surprise_weight
        return self._squash((q_values + w * q_surprise) / (1.0 + w))

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < max(self.warmup, _RECORDS_FROM) or self._quiet > 0:
            return 0.0
        return self._raw(x, t, self._residuals(x, t), self._transition.surprise(x))

    def learn_one(self, x: float, t: float | None = None) -> None:
        self.update(x, t)

    def update(self, x: float, t: float | None = None) -> float:
        bits = self._transition.surprise(x)
        self._transition.learn_one(x, t)
        if self._n < _RECORDS_FROM:
            self._learn(x, t, (0.0, 0.0))
            return 0.0
        res = self._residuals(x, t)
        raw = self._raw(x, t, res, bits) if self._n >= self.warmup else 0.0
        self._rec_surprise = max(self._rec_surprise * self.memory, bits)
        self._learn(x, t, res)
        score = 0.0 if self._quiet > 0 else raw
        self._quiet = max(self._quiet - 1, 0)
        if raw >= self.rest_level:
            self._quiet = self.rest
        return score
