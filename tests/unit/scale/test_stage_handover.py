"""A failure domain's state moves between workers: incidents keep their ids, a case that acted
does not act again, a pending verification is judged by the new owner, and a verdict or a command
delivered twice changes nothing."""

from __future__ import annotations

import pytest

from setpoint.actuators import Verifier
from setpoint.causal import Diagnoser
from setpoint.clock import to_datetime
from setpoint.errors import DecodeError
from setpoint.policy import Phase
from setpoint.schemas import AnomalousSignal, Anomaly, ServiceHealth
from setpoint.streams.codec import decode, encode
from setpoint.streams.topics import INCIDENTS
from tests.unit.conftest import ts
from tests.unit.safety.test_decider import decider, result, saturation, verification


def _anomaly(aid: str, svc: str, t: float, domain: str = "shop") -> Anomaly:
    sig = AnomalousSignal(name="latency_ms", value=600.0, baseline=100.0, score=0.99,
                          direction="up", onset=to_datetime(t))  # fmt: skip
    return Anomaly(anomaly_id=aid, service=svc, domain=domain, ts=to_datetime(t + 5),
                   onset=to_datetime(t), score=0.99, signals=[sig])  # fmt: skip


def _health(svc: str, t: float, value: float, domain: str = "shop") -> ServiceHealth:
    return ServiceHealth(service=svc, domain=domain, ts=to_datetime(t), anomalous=False,
                         slis={"latency_ms": value})  # fmt: skip


def test_an_incident_keeps_its_id_on_the_worker_that_takes_its_domain_over() -> None:
    a, b = Diagnoser(), Diagnoser()
    for t in range(30):
        a.on_health(_health("api", t, 100.0 + t % 3))
        a.on_health(_health("other", t, 5.0, domain="elsewhere"))
    first = a.on_anomaly(_anomaly("an-1", "api", 30.0))[0]
    b.restore(a.snapshot("shop"))
    a.drop(["shop"])
    assert a.incidents() == [] and a.domains() == ["elsewhere"]
    assert b.domains() == ["shop"] and b.store.names("other") == []
    again = b.on_anomaly(_anomaly("an-2", "api", 31.0))[0]
    assert again.incident_id == first.incident_id and again.revision == first.revision + 1


def test_a_case_that_acted_does_not_act_again_after_the_hand_over() -> None:
    a, b = decider(initial="autonomous"), decider(initial="autonomous")
    inc = decode(INCIDENTS, encode(saturation()))  # as read from a topic: pydantic's own zones
    cmd = a.on_incident(inc, 1000.0).commands[0]
    b.restore(a.snapshot("default"))
    a.drop(["default"])
    assert a.domains() == [] and not a.state.in_flight
    assert list(b.state.in_flight) == [cmd.command_id], "the action still counts against caps"
    assert not b.on_incident(inc, 1001.0).commands
    assert not b.tick(1002.0).commands
    b.on_result(result(cmd, "executed"), 1003.0)
    out = b.on_verification(verification(cmd, "recovered"), 1300.0)
    assert b.phase("inc-1") == Phase.RESOLVED and out.trust[0][0].succeeded == 1


def test_a_pending_verification_is_judged_by_the_new_owner_only() -> None:
    a, b = Verifier(), Verifier()
    dec = decider(initial="autonomous")
    cmd = dec.on_incident(saturation(), 1000.0).commands[0]
    for t in range(900, 1000, 15):
        a.on_health(ServiceHealth(service="catalog", ts=ts(t), anomalous=False,
                                  slis={"latency_p99_ms": 100.0, "error_rate": 0.01}))  # fmt: skip
    a.on_result(result(cmd, "executed"), 1001.0)
    b.restore(a.snapshot("default"))
    a.drop(["default"])
    for t in range(1001, 2000, 15):
        b.on_health(ServiceHealth(service="catalog", ts=ts(t), anomalous=False,
                                  slis={"latency_p99_ms": 100.0, "error_rate": 0.01}))  # fmt: skip
    assert a.tick(2000.0) == []
    verdicts = b.tick(2000.0)
    assert [v.action_id for v in verdicts] == [cmd.command_id]
    b.on_result(result(cmd, "executed"), 2001.0)
    assert b.pending() == 0, "a result delivered again is not verified twice"


def test_a_verdict_delivered_twice_is_acted_on_once() -> None:
    dec = decider(initial="autonomous")
    cmd = dec.on_incident(saturation(), 1000.0).commands[0]
    dec.on_result(result(cmd, "executed"), 1001.0)
    first = dec.on_verification(verification(cmd, "not_recovered"), 1400.0)
    second = dec.on_verification(verification(cmd, "not_recovered"), 1401.0)
    assert len(first.commands) == 1 and str(first.commands[0].verb) == "undo"
    assert not second.commands and not second.trust and dec.phase("inc-1") == Phase.UNDOING


def test_a_command_delivered_twice_still_counts_as_in_flight() -> None:
    dec = decider(initial="autonomous")
    cmd = dec.on_incident(saturation(), 1000.0).commands[0]
    dec.on_result(result(cmd, "duplicate"), 1001.0)
    assert list(dec.state.in_flight) == [cmd.command_id]
    assert dec.phase("inc-1") == Phase.ACTING


@pytest.mark.parametrize("stage", [Diagnoser, Verifier])
def test_restore_refuses_bytes_that_are_not_a_snapshot(stage: type) -> None:
    with pytest.raises(DecodeError):
        stage().restore(b"SPDS\x01not a pickle")
    with pytest.raises(DecodeError):
        decider().restore(b"garbage")
