"""Trust scores: autonomy is earned per agent x verb x scope, and lost at once.

Each pair keeps a track record (proposals, human agreement and disagreement, verified successes,
failed verifications, rollbacks) and a mode:

* **shadow** -> **advisory** once it has made ``advisory.min_samples`` proposals;
* **advisory** -> **autonomous** once ``autonomous.min_samples`` outcomes have been judged (by a
  human approving or denying, or by verification) and the Wilson lower bound of the good share
  reaches ``autonomous.min_score``, with ``min_good_since_change`` good outcomes since the last
  change of mode;
* promotion is slow: at most one step per ``min_dwell_s`` (event time);
* one failed verification or rollback demotes one step at once; an earned autonomy whose score
  falls below ``autonomous.hold_score`` is demoted too;
* counts of a pair idle for more than ``idle_after_s`` halve every ``half_life_s``, so an unused
  autonomy decays back to advisory.

Pure: records in, records out. The decide stage publishes each updated record and reads them all
back at start (a compacted topic), so trust survives restarts.
"""

from __future__ import annotations

import math
from enum import StrEnum

from setpoint.clock import to_datetime
from setpoint.policy.model import TrustConfig
from setpoint.schemas import TrustMode, TrustRecord

_ORDER = [TrustMode.SHADOW, TrustMode.ADVISORY, TrustMode.AUTONOMOUS]


class TrustEvent(StrEnum):
    PROPOSED = "proposals"
    AGREED = "agreed"
    DISAGREED = "disagreed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


_GOOD = (TrustEvent.AGREED, TrustEvent.SUCCEEDED)
_BAD = (TrustEvent.FAILED, TrustEvent.ROLLED_BACK)


def wilson_lower(good: float, n: float, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval of a success rate; 0 with no samples.

    Examples
    --------
    >>> round(wilson_lower(20, 20), 3), round(wilson_lower(40, 40), 3), wilson_lower(0, 0)
    (0.839, 0.912, 0.0)
    >>> wilson_lower(9, 10) < wilson_lower(90, 100) < 0.9
    True
    """
    if n <= 0:
        return 0.0
    p = min(1.0, good / n)
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


def scope_of(config: TrustConfig, target: str, tier: int | None) -> str:
    """The scope a trust score is kept per: ``service:NAME`` or ``tier:N``."""
    return f"tier:{tier}" if config.scope == "tier" else f"service:{target}"


class TrustBook:
    """Every pair's record, the mode it has earned, and its updates.

    Examples
    --------
    >>> from setpoint.policy.model import TrustConfig
    >>> cfg = TrustConfig(min_dwell_s=0)
    >>> book = TrustBook(cfg)
    >>> book.mode("bot", "restart", "service:api", 0.0)
    <TrustMode.SHADOW: 'shadow'>
    >>> for i in range(5):
    ...     rec, changed = book.observe(TrustEvent.PROPOSED, "bot", "restart", "service:api", i)
    >>> rec.mode, changed
    (<TrustMode.ADVISORY: 'advisory'>, True)
    >>> for i in range(20):
    ...     rec, _ = book.observe(TrustEvent.AGREED, "bot", "restart", "service:api", 10 + i)
    ...     rec, _ = book.observe(TrustEvent.SUCCEEDED, "bot", "restart", "service:api", 10 + i)
    >>> rec.mode, round(rec.score, 2)
    (<TrustMode.AUTONOMOUS: 'autonomous'>, 0.91)
    >>> book.observe(TrustEvent.ROLLED_BACK, "bot", "restart", "service:api", 50)[0].mode
    <TrustMode.ADVISORY: 'advisory'>
    """

    def __init__(self, config: TrustConfig) -> None:
        self.config = config
        self.records: dict[str, TrustRecord] = {}

    def load(self, rec: TrustRecord) -> bool:
        """Take a record read back from the topic unless a newer one is known; ``True`` if kept."""
        old = self.records.get(rec.key)
        if old is not None and old.version >= rec.version:
            return False
        self.records[rec.key] = rec
        return True

    def record(self, agent: str, verb: str, scope: str, now: float) -> TrustRecord:
        """The pair's record as of ``now`` (counts decayed; a new pair starts in initial_mode)."""
        rec = self.records.get(f"{agent}|{verb}|{scope}")
        if rec is None:
            return TrustRecord(agent=agent, verb=verb, scope=scope, mode=self.config.initial_mode,
                               updated_at=to_datetime(now), reason="initial mode")  # fmt: skip
        return self._decay(rec, now)

    def mode(self, agent: str, verb: str, scope: str, now: float) -> TrustMode:
        """The mode the pair holds now (an idle autonomy that decayed below the hold score is
        advisory, even before the next update records it)."""
        rec = self.record(agent, verb, scope, now)
        return _demote(rec.mode) if self._too_weak(rec) else rec.mode

    def observe(
        self,
        event: TrustEvent,
        agent: str,
        verb: str,
        scope: str,
        now: float,
        demote: bool = True,
    ) -> tuple[TrustRecord, bool]:
        """Count one event; return the updated record and whether its mode changed.

        ``demote=False`` counts a bad outcome without demoting again (the automatic rollback
        that follows a failed verification already counted as a failure)."""
        rec = self.record(agent, verb, scope, now)
        counts = {event.value: getattr(rec, event.value) + 1.0}
        rec = _rescored(rec.model_copy(update=counts), self.config.z)
        good = rec.good_since_change + (1 if event in _GOOD else 0)
        mode, why = self._next_mode(rec, event if demote else TrustEvent.PROPOSED, good, now)
        changed = mode != rec.mode
        update = {"mode": mode, "good_since_change": 0 if changed else good,
                  "changed_at": to_datetime(now) if changed else rec.changed_at,
                  "updated_at": to_datetime(now), "version": rec.version + 1,
                  "reason": why if changed else rec.reason}  # fmt: skip
        rec = rec.model_copy(update=update)
        self.records[rec.key] = rec
        return rec, changed

    def _next_mode(
        self, rec: TrustRecord, event: TrustEvent, good: int, now: float
    ) -> tuple[TrustMode, str]:
        if event in _BAD and rec.mode != TrustMode.SHADOW:
            return _demote(rec.mode), f"demoted at once: {event.value.replace('_', ' ')}"
        if self._too_weak(rec):
            hold = self.config.autonomous.hold_score
            return _demote(rec.mode), f"score {rec.score:.2f} fell below {hold:.2f}"
        dwell = rec.changed_at is None or (
            now - rec.changed_at.timestamp() >= self.config.min_dwell_s
        )
        if rec.mode == TrustMode.SHADOW and dwell and self._ready_for_advisory(rec):
            return TrustMode.ADVISORY, f"promoted after {rec.proposals:.0f} proposals"
        if rec.mode == TrustMode.ADVISORY and dwell and self._ready_for_autonomy(rec, good):
            return TrustMode.AUTONOMOUS, f"promoted: score {rec.score:.2f} over {_judged(rec):.0f}"
        return rec.mode, rec.reason

    def _ready_for_advisory(self, rec: TrustRecord) -> bool:
        step = self.config.advisory
        return rec.proposals >= step.min_samples and (
            _judged(rec) == 0 or rec.score >= step.min_score
        )

    def _ready_for_autonomy(self, rec: TrustRecord, good: int) -> bool:
        step = self.config.autonomous
        return (
            _judged(rec) >= step.min_samples
            and rec.score >= step.min_score
            and good >= self.config.min_good_since_change
        )

    def _too_weak(self, rec: TrustRecord) -> bool:
        # Earned autonomy must keep its score; a pair that starts autonomous by configuration
        # (``initial_mode``) holds it until a bad outcome demotes it.
        earned = rec.changed_at is not None
        return (
            earned
            and rec.mode == TrustMode.AUTONOMOUS
            and rec.score < self.config.autonomous.hold_score
        )

    def _decay(self, rec: TrustRecord, now: float) -> TrustRecord:
        idle = now - rec.updated_at.timestamp() - self.config.idle_after_s
        if idle <= 0:
            return rec
        k = 0.5 ** (idle / self.config.half_life_s)
        fields = ("proposals", *(e.value for e in (*_GOOD, *_BAD, TrustEvent.DISAGREED)))
        decayed = rec.model_copy(update={f: getattr(rec, f) * k for f in fields})
        return _rescored(decayed, self.config.z)


def _judged(rec: TrustRecord) -> float:
    return rec.agreed + rec.disagreed + rec.succeeded + rec.failed + rec.rolled_back


def _rescored(rec: TrustRecord, z: float) -> TrustRecord:
    return rec.model_copy(
        update={"score": wilson_lower(rec.agreed + rec.succeeded, _judged(rec), z)}
    )


def _demote(mode: TrustMode) -> TrustMode:
    return _ORDER[max(0, _ORDER.index(mode) - 1)]
