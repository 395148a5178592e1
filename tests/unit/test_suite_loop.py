"""The suite's in-process loop runs the stages as the workers do: its policy envelope (the
decider's and the actuator's re-check) sees the topology's callers, so a blast radius there is
the same as in production, not just the target's own instances."""

from __future__ import annotations

from pathlib import Path

from setpoint.actuators import ExecutionRecords
from setpoint.causal import Topology
from setpoint.policy import Policy
from setpoint.sim.scenario import load_scenario
from setpoint.suite.loop import ClosedLoop


def test_the_loops_envelope_counts_the_targets_callers(tmp_path: Path) -> None:
    policy = Policy.from_text(Path("config/policy.yaml").read_text(), "policy.yaml")
    topology = Topology.from_text(Path("config/topology.yaml").read_text(), "topology.yaml")
    records = ExecutionRecords(tmp_path / "records.sqlite")
    try:
        loop = ClosedLoop(load_scenario("scenarios/quiet.yaml"), policy, topology, records)
        for envelope in (loop.decide.envelope, loop.actuator.envelope):
            fp = envelope.inventory.footprint("shift_traffic", {}, "db", depth=1)
            assert set(fp) == {"db", "inventory", "payments"}
    finally:
        records.close()
