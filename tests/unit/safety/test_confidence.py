"""A diagnosis that is a guess (a close race between candidates) is not acted on: the decider
waits for it to firm up and, if it does not, pages a human as it would for a novel fault."""

from __future__ import annotations

from setpoint.policy import Decider, Phase, Policy, PolicyEnvelope
from tests.unit.conftest import hypothesis, incident
from tests.unit.safety.conftest import SHOP

POLICY = "trust: {enabled: false}\nrules:\n  - {id: scale, verbs: [scale], effect: autonomous}\n"


def decider() -> Decider:
    return Decider(PolicyEnvelope(Policy.from_text(POLICY), SHOP), b"k", agent="bot", settle_s=0)


def surge(confidence: float, now: float = 1000.0):  # type: ignore[no-untyped-def]
    hyps = [hypothesis("payments", "saturation", ["scale"])]
    return incident(hyps, confidence=confidence, now=now)


def test_a_guess_is_paged_after_the_wait_not_acted_on() -> None:
    dec = decider()
    assert not dec.on_incident(surge(0.35), 1000.0).escalations, "it may still firm up"
    out = dec.tick(1000.0 + 181.0)
    assert not out.commands and out.escalations[0].reason_code == "low_confidence"
    assert dec.phase("inc-1") == Phase.ESCALATED


def test_a_diagnosis_that_firms_up_in_time_is_acted_on() -> None:
    dec = decider()
    dec.on_incident(surge(0.35), 1000.0)
    out = dec.on_incident(surge(0.45, 1100.0), 1100.0)
    assert [c.target for c in out.commands] == ["payments"] and not out.escalations
