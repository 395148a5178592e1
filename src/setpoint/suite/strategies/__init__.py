"""The strategies the suite compares on the same runs: ``setpoint`` (the whole loop), ``reflex``
(liveness restarts and CPU autoscaling), ``runbook`` (one fixed runbook per static alert) and
``human`` (every alert pages on-call, who fixes the fault after a modelled delay)."""

from collections.abc import Callable

from setpoint.suite.strategies import human, reflex, runbook
from setpoint.suite.strategies.base import Act, Controller, Tick, World, run_controller

BASELINES: dict[str, Callable[[World], Controller]] = {
    "reflex": reflex.make,
    "runbook": runbook.make,
    "human": human.make,
}
"""The baseline controllers, by strategy name."""
STRATEGIES = ("setpoint", *BASELINES)

__all__ = ["BASELINES", "STRATEGIES", "Act", "Controller", "Tick", "World", "run_controller"]
