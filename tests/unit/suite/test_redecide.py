"""Shadow mode over the ledger (``suite.redecide``): the ledger events of an in-process loop run
re-decided under a candidate policy, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from setpoint.actuators import ExecutionRecords
from setpoint.causal import Topology
from setpoint.policy import Policy
from setpoint.schemas import LedgerEvent
from setpoint.sim.scenario import load_scenario
from setpoint.suite.loop import ClosedLoop, LoopConfig
from setpoint.suite.redecide import recorded, redecide
from setpoint.suite.replay import Variant
from setpoint.suite.shadow_diff import diff

ROOT = Path(__file__).resolve().parents[3]
POLICY_TEXT = (ROOT / "config" / "policy.yaml").read_text()
TOPOLOGY = Topology.from_text((ROOT / "config" / "topology.yaml").read_text())


def ledger_of(name: str, tmp: Path) -> list[LedgerEvent]:
    """The ledger events of ``name`` run through the whole loop under the shipped policy."""
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    records = ExecutionRecords(tmp / "actuator.sqlite")
    try:
        config = LoopConfig(seed=1, history_s=900.0, tail_s=600.0)
        loop = ClosedLoop(scenario, Policy.from_text(POLICY_TEXT), TOPOLOGY, records, config)
        return loop.run().events
    finally:
        records.close()


@pytest.fixture(scope="module")
def credential(tmp_path_factory: pytest.TempPathFactory) -> list[LedgerEvent]:
    """expired-credential: the rotation waits for a human, who approves it; it recovers."""
    return ledger_of("expired-credential", tmp_path_factory.mktemp("loop"))


def candidate(text: str) -> Variant:
    return Variant("candidate", Policy.from_text(text), None, "candidate.yaml", "-")


def test_the_same_policy_re_decides_exactly_what_was_recorded(
    credential: list[LedgerEvent],
) -> None:
    base = recorded(credential)
    assert [d.outcome for d in base.decisions] == ["approval", "allow"]
    d = diff(base, redecide(credential, candidate(POLICY_TEXT), TOPOLOGY))
    assert d.changes == []
    assert d.counts(d.baseline) == d.counts(d.candidate)
    assert "alerts" not in d.counts(d.baseline)  # the ledger holds no telemetry to detect on


@pytest.fixture(scope="module")
def bad_deploy(tmp_path_factory: pytest.TempPathFactory) -> list[LedgerEvent]:
    """bad-deploy: checkout's 4.2.0 is rolled back autonomously; it recovers."""
    return ledger_of("bad-deploy", tmp_path_factory.mktemp("loop"))


def test_a_candidate_that_wants_approval_holds_the_command_back(
    bad_deploy: list[LedgerEvent],
) -> None:
    gate = (
        "rules:\n"
        "  - {id: rollback-approval, verbs: [rollback_deploy], effect: approval, pinned: true}\n"
    )
    text = POLICY_TEXT.replace("rules:\n", gate, 1)
    d = diff(recorded(bad_deploy), redecide(bad_deploy, candidate(text), TOPOLOGY))
    assert [(c.kind, c.service) for c in d.changes] == [
        ("command-", "checkout"),
        ("effect", "checkout"),
    ]
    assert d.changes[0].detail == (
        "rollback_deploy checkout (candidate: approval by rollback-approval)"
    )
    assert d.changes[1].detail.startswith(
        "rollback_deploy checkout: allow [rollback-autonomous] -> approval [rollback-approval"
    )
    assert d.counts(d.candidate)["approvals requested"] == 1


def test_a_candidate_that_denies_the_verb_loses_the_command_and_names_the_rule(
    credential: list[LedgerEvent],
) -> None:
    deny = "rules:\n  - {id: no-rotation, verbs: [rotate_credential], effect: deny}\n"
    d = diff(
        recorded(credential),
        redecide(credential, candidate(POLICY_TEXT.replace("rules:\n", deny, 1)), TOPOLOGY),
    )
    removed = [c for c in d.changes if c.kind == "command-"]
    assert [(c.service, c.rule_ids) for c in removed] == [("payments", ("no-rotation",))]
    effect = next(c for c in d.changes if c.kind == "effect")
    assert "approval [credentials-need-approval] -> deny [no-rotation]" in effect.detail
    # ...and, the rotation refused, it moves on to the next hypothesis' remedy.
    added = [(c.service, c.detail) for c in d.changes if c.kind == "command+"]
    assert added == [("db", "shift_traffic db (baseline: not proposed)")]
