"""What a verified action teaches outlives its incident: a rollback that did not help refutes
the version it rolled back, so another incident of the same fault does not roll it back again,
not even when undoing the rollback deployed that version anew (a change of its own)."""

from __future__ import annotations

from setpoint.policy import Decider, Policy, PolicyEnvelope
from setpoint.schemas import Incident, Verb
from tests.unit.conftest import hypothesis, incident
from tests.unit.safety.conftest import SHOP
from tests.unit.safety.test_decider import result, verification

POLICY = """
trust: {enabled: false}
rules:
  - {id: rollback, verbs: [rollback_deploy], effect: autonomous}
  - {id: scale, verbs: [scale], effect: autonomous}
"""


def decider() -> Decider:
    return Decider(PolicyEnvelope(Policy.from_text(POLICY), SHOP), b"k", agent="bot", settle_s=0)


def deploy(iid: str, change: str = "chg-1", version: str = "1.9.1") -> Incident:
    bad = hypothesis("inventory", "bad_deploy", ["rollback_deploy"], change_id=change)
    hyps = [
        bad.model_copy(update={"change_version": version}),
        hypothesis("catalog", "saturation", ["scale"], 2),
    ]
    return incident(hyps, iid=iid)


def rolled_back_in_vain(dec: Decider) -> None:
    cmd = dec.on_incident(deploy("inc-1"), 1000.0).commands[0]
    assert (cmd.verb, cmd.params.change_id) == (Verb.ROLLBACK_DEPLOY, "chg-1")
    dec.on_result(result(cmd, "executed"), 1001.0)
    undo = dec.on_verification(verification(cmd, "not_recovered"), 1300.0).commands[0]
    assert undo.verb == Verb.UNDO
    out = dec.on_result(result(undo, "undone"), 1301.0)
    assert not out.commands and out.escalations[0].reason_code == "refuted"


def test_a_change_whose_rollback_did_not_help_is_not_rolled_back_again() -> None:
    dec = decider()
    rolled_back_in_vain(dec)
    out = dec.on_incident(deploy("inc-2"), 1500.0)
    assert not out.commands, "another incident must not repeat a rollback verified not to help"
    assert out.escalations[0].reason_code == "refuted"


def test_the_undo_redeploying_the_refuted_version_is_not_rolled_back_either() -> None:
    dec = decider()
    rolled_back_in_vain(dec)
    out = dec.on_incident(deploy("inc-2", change="chg-undo"), 1500.0)
    assert not out.commands and out.escalations[0].reason_code == "refuted"


def test_another_version_of_the_same_service_may_still_be_rolled_back() -> None:
    dec = decider()
    rolled_back_in_vain(dec)
    out = dec.on_incident(deploy("inc-2", change="chg-2", version="1.9.2"), 1500.0)
    assert [(c.verb, c.params.change_id) for c in out.commands] == [(Verb.ROLLBACK_DEPLOY, "chg-2")]
