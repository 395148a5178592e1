"""river's Half-Space Trees on a min-max scaled value: the library's own streaming detector."""

from __future__ import annotations

from typing import Any

from river import anomaly, compose, preprocessing

from setpoint.detectors.base import Detector, register


@register("half_space")
class HalfSpace(Detector):
    """``MinMaxScaler() | HalfSpaceTrees(seed=seed)`` from river, on ``{"x": value}``.

    Kept as the reference point the benchmarks compare with. Half-space tree scores are mass
    counts, so many values tie; a tiny term proportional to the scaled distance from the middle
    of the range breaks the ties (it never reorders values whose tree scores differ by more
    than 1e-6).

    Parameters
    ----------
    n_trees
        Trees in the forest.
    height
        Depth of each tree.
    window_size
        Samples per reference window.
    seed
        Seed of the random splits (same seed, same scores).

    Examples
    --------
    >>> d = HalfSpace(seed=1)
    >>> for i in range(600):
    ...     _ = d.update(10.0 + (i % 5) * 0.1)
    >>> 0.0 <= d.score_one(10.2) < d.score_one(50.0) < 1.0
    True
    """

    __slots__ = ("_model", "_n", "height", "n_trees", "seed", "window_size")

    def __init__(
        self, n_trees: int = 10, height: int = 8, window_size: int = 250, seed: int = 42
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self._n = 0
        self._model: Any = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(
                n_trees=n_trees, height=height, window_size=window_size, seed=seed
            ),
        )

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < self.window_size:
            return 0.0
        raw = float(self._model.score_one({"x": x}))
        scaled = self._model.steps["MinMaxScaler"].transform_one({"x": x})["x"]
        span = abs(float(scaled) - 0.5)
        tie = 1e-6 * span / (1.0 + span)
        return min(raw, 1.0 - 1e-6) * (1.0 - 1e-6) + tie

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._model.learn_one({"x": x})
        self._n += 1
