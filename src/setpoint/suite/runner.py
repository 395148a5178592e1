"""Running scenario files under strategies and seeds, and scoring each run.

Each run is independent and deterministic under its seed (the fleet's randomness and every id
come from it), so runs spread over worker processes give the same numbers as one process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from setpoint.causal import Topology
from setpoint.policy import Policy
from setpoint.sim.scenario import Scenario, load_scenario
from setpoint.suite.loop import LoopConfig
from setpoint.suite.score import ScenarioScore, score
from setpoint.suite.strategies import BASELINES, run_controller
from setpoint.suite.strategies import setpoint as setpoint_strategy
from setpoint.suite.trace import Trace


@dataclass(frozen=True)
class Job:
    """One scenario file under one strategy and one seed."""

    path: Path
    strategy: str
    seed: int
    policy_path: Path
    topology_path: Path
    config: LoopConfig


def trace(job: Job, scenario: Scenario, policy: Policy, topology: Topology) -> Trace:
    """Run one job; the trace of what its strategy did."""
    if job.strategy == "setpoint":
        t = setpoint_strategy.run(scenario, policy, topology, job.seed, job.config)
    elif job.strategy in BASELINES:
        cfg = job.config
        t = run_controller(scenario, BASELINES[job.strategy], job.seed, cfg.history_s,
                           cfg.step_s, cfg.tail_s)  # fmt: skip
    else:
        msg = f"unknown strategy {job.strategy!r}; known: setpoint, {', '.join(BASELINES)}"
        raise ValueError(msg)
    t.held_out, t.tags = scenario.held_out, tuple(scenario.tags)
    return t


def load(job: Job) -> tuple[Scenario, Policy, Topology]:
    scenario = load_scenario(job.path)
    policy = Policy.from_text(job.policy_path.read_text(), str(job.policy_path))
    topo_path = Path(scenario.topology) if scenario.topology else job.topology_path
    topology = Topology.from_text(topo_path.read_text(), str(topo_path))
    return scenario, policy, topology


def run_job(job: Job) -> ScenarioScore:
    scenario, policy, topology = load(job)
    return score(trace(job, scenario, policy, topology), scenario, policy, topology)


def jobs(
    files: Iterable[Path],
    strategies: Iterable[str],
    seeds: Iterable[int],
    policy_path: Path,
    topology_path: Path,
    config: LoopConfig,
) -> list[Job]:
    return [
        Job(Path(f), s, seed, policy_path, topology_path, replace(config, seed=seed))
        for f in files
        for seed in seeds
        for s in strategies
    ]


def run_all(todo: list[Job], workers: int = 1) -> Iterator[ScenarioScore]:
    """Score every job, in the order given (``workers`` processes run them)."""
    if workers <= 1:
        yield from map(run_job, todo)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(run_job, todo)
