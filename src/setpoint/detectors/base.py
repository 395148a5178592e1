"""The shared base of every online detector and the registry the CLI and the stages pick from."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self, TypeVar


class Detector(ABC):
    """An online anomaly detector for one univariate series (river's API, per series).

    ``score_one`` never changes state; ``learn_one`` does. A score is in [0, 1]: 0 is ordinary,
    values near 1 are rare under what the detector has learned so far. Constructor arguments are
    stored unchanged on ``self`` so ``clone``, ``repr`` and pickling come for free.
    """

    __slots__ = ()  # subclasses may declare slots to keep per-series state small

    @abstractmethod
    def learn_one(self, x: float, t: float | None = None) -> None:
        """Update the state with value ``x`` observed at unix time ``t``."""

    @abstractmethod
    def score_one(self, x: float, t: float | None = None) -> float:
        """How anomalous ``x`` is, given only what was learned before (no state change)."""

    def update(self, x: float, t: float | None = None) -> float:
        """Score ``x`` then learn it: the one call the per-event path makes."""
        score = self.score_one(x, t)
        self.learn_one(x, t)
        return score

    def baseline(self) -> float | None:
        """What the detector considers normal right now (for evidence), if it knows."""
        return None

    def deviation(self, x: float, t: float | None = None) -> float | None:
        """How far ``x`` is from normal, in the detector's robust scale units (no state change).

        The alert decision uses it to keep a series firing while a degradation persists, even
        once its score has stopped rising. ``None`` when the detector has no such notion.
        """
        return None

    def _get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {n: getattr(self, n) for n in sig.parameters if n != "self" and hasattr(self, n)}

    def clone(self, **overrides: Any) -> Self:
        """A fresh detector with the same hyper-parameters (and no learned state)."""
        return type(self)(**{**self._get_params(), **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"


def squash(r: float) -> float:
    """Map a non-negative distance to [0, 1): ``r^2 / (1 + r^2)``, 0.5 at ``r = 1``.

    Unlike ``1 - exp(-r^2)`` it does not round to 1.0 for any distance a series produces, so
    large anomalies keep their order instead of tying at 1.0.

    Examples
    --------
    >>> squash(0.0), squash(1.0), squash(1e6) < 1.0, squash(10.0) < squash(20.0)
    (0.0, 0.5, True, True)
    """
    u = r * r
    return u / (1.0 + u)


D = TypeVar("D", bound=type[Detector])
_REGISTRY: dict[str, type[Detector]] = {}


def register(name: str) -> Callable[[D], D]:
    """Class decorator: make a detector available by ``name`` to the CLI and the stages."""

    def deco(cls: D) -> D:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            msg = f"detector name {name!r} is already registered to {_REGISTRY[name].__name__}"
            raise ValueError(msg)
        _REGISTRY[name] = cls
        return cls

    return deco


def registered() -> dict[str, type[Detector]]:
    """Every registered detector by name."""
    return dict(_REGISTRY)


def make(name: str, **params: Any) -> Detector:
    """Build the detector registered as ``name``."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        msg = f"unknown detector {name!r}; known: {known}"
        raise KeyError(msg) from None
    return cls(**params)
