"""Trust: earned slowly per agent x verb x scope, lost at once, decays when idle, survives a
restart (a record read back), and caps what the envelope lets an agent do."""

from __future__ import annotations

from setpoint.policy import LiveState, Proposal, TrustBook, TrustConfig, TrustEvent
from setpoint.schemas import DecisionOutcome, TrustMode
from tests.unit.safety.conftest import env

DAY = 86400.0
PAIR = ("bot", "restart", "service:api")


def promote(book: TrustBook, t0: float = 0.0) -> float:
    """Five proposals, a day's wait, then approved-and-verified actions until autonomous."""
    t = t0
    for _ in range(5):
        t += 1
        book.observe(TrustEvent.PROPOSED, *PAIR, t)
    t += DAY
    while book.mode(*PAIR, t) != TrustMode.AUTONOMOUS:
        t += 60
        book.observe(TrustEvent.AGREED, *PAIR, t)
        book.observe(TrustEvent.SUCCEEDED, *PAIR, t)
        assert t < t0 + 10 * DAY, "never promoted"
    return t


def test_shadow_then_advisory_then_autonomous_with_a_wilson_bound() -> None:
    book = TrustBook(TrustConfig())
    assert book.mode(*PAIR, 0.0) == TrustMode.SHADOW
    t = promote(book)
    rec = book.record(*PAIR, t)
    assert rec.score >= 0.9 and rec.agreed + rec.succeeded >= 35, "n/(n+z^2) >= 0.9 needs n >= 35"
    assert rec.reason.startswith("promoted")


def test_promotion_waits_a_dwell_time_after_each_change() -> None:
    book = TrustBook(TrustConfig())
    for i in range(5):
        book.observe(TrustEvent.PROPOSED, *PAIR, float(i))
    assert book.mode(*PAIR, 10.0) == TrustMode.ADVISORY
    for i in range(60):
        book.observe(TrustEvent.SUCCEEDED, *PAIR, 10.0 + i)
    assert book.mode(*PAIR, 100.0) == TrustMode.ADVISORY, "one step per day at most"
    book.observe(TrustEvent.SUCCEEDED, *PAIR, DAY + 10.0)
    assert book.mode(*PAIR, DAY + 10.0) == TrustMode.AUTONOMOUS


def test_one_failure_demotes_at_once_and_its_rollback_does_not_demote_twice() -> None:
    book = TrustBook(TrustConfig())
    t = promote(book)
    rec, changed = book.observe(TrustEvent.FAILED, *PAIR, t + 1)
    assert changed and rec.mode == TrustMode.ADVISORY and "failed" in rec.reason
    rec, changed = book.observe(TrustEvent.ROLLED_BACK, *PAIR, t + 2, demote=False)
    assert not changed and rec.mode == TrustMode.ADVISORY and rec.rolled_back == 1
    rec, changed = book.observe(TrustEvent.ROLLED_BACK, *PAIR, t + 3)
    assert changed and rec.mode == TrustMode.SHADOW


def test_after_a_demotion_promotion_needs_fresh_good_outcomes_not_just_time() -> None:
    book = TrustBook(TrustConfig())
    t = promote(book)
    for i in range(200):
        book.observe(TrustEvent.SUCCEEDED, *PAIR, t + i)
    t += 200
    book.observe(TrustEvent.FAILED, *PAIR, t)
    assert book.record(*PAIR, t).score > 0.95, "a long record keeps a high score"
    later = t + 2 * DAY
    for i in range(4):
        book.observe(TrustEvent.SUCCEEDED, *PAIR, later + i)
    assert book.mode(*PAIR, later + 4) == TrustMode.ADVISORY, "4 good outcomes since: not yet"
    book.observe(TrustEvent.SUCCEEDED, *PAIR, later + 5)
    assert book.mode(*PAIR, later + 5) == TrustMode.AUTONOMOUS


def test_idle_autonomy_decays_back_to_advisory() -> None:
    book = TrustBook(TrustConfig())
    t = promote(book)
    assert book.mode(*PAIR, t + 20 * DAY) == TrustMode.AUTONOMOUS
    assert book.mode(*PAIR, t + 120 * DAY) == TrustMode.ADVISORY
    old = book.record(*PAIR, t + 120 * DAY)
    assert old.succeeded < 10, "counts halve every 30 idle days"


def test_a_record_read_back_restores_the_mode_and_an_older_one_is_ignored() -> None:
    book = TrustBook(TrustConfig())
    t = promote(book)
    latest = book.records["bot|restart|service:api"]
    fresh = TrustBook(TrustConfig())
    assert fresh.load(latest)
    assert fresh.mode(*PAIR, t) == TrustMode.AUTONOMOUS
    stale = latest.model_copy(update={"version": 1, "mode": TrustMode.SHADOW})
    assert not fresh.load(stale) and fresh.mode(*PAIR, t) == TrustMode.AUTONOMOUS


def test_the_envelope_caps_an_unpinned_rule_by_trust_and_leaves_a_pinned_one() -> None:
    e = env("""
rules:
  - {id: pinned-flush, verbs: [flush_cache], effect: autonomous, pinned: true}
  - {id: earned-restart, verbs: [restart], effect: autonomous}
""")
    restart = Proposal("restart", "auth", "d", "i", "bot", trust_mode=TrustMode.SHADOW)
    d = e.evaluate(restart, LiveState(), 0.0)
    assert d.outcome == DecisionOutcome.SHADOW and d.rule_ids[-1] == "trust"
    assert d.trust_mode == "shadow"
    adv = Proposal("restart", "auth", "d", "i", "bot", trust_mode=TrustMode.ADVISORY)
    assert e.evaluate(adv, LiveState(), 0.0).outcome == DecisionOutcome.APPROVAL
    run = Proposal("restart", "auth", "d", "i", "bot", trust_mode=TrustMode.AUTONOMOUS)
    assert e.evaluate(run, LiveState(), 0.0).outcome == DecisionOutcome.ALLOW
    flush = Proposal("flush_cache", "catalog", "d", "i", "bot", trust_mode=TrustMode.SHADOW)
    assert e.evaluate(flush, LiveState(), 0.0).outcome == DecisionOutcome.ALLOW
