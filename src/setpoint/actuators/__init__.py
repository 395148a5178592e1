"""Stages 4 and 5, execute and verify: the intent layer.

Input: signed commands (from the actuator topic), action results and service health. Output:
action results with the exact calls each backend made, and verifications. Invariants: a command
runs only after its signature, expiry, epoch, idempotency key and the policy (re-evaluated now)
all pass; then only if the verb's preconditions hold, and only once its capture is durably
recorded; an idempotency key acts at most once, even across restarts; an irreversible verb is
never undone by pretence; the same verb means the same thing on every backend (one observed-state
vocabulary, one set of rules in :mod:`~setpoint.actuators.intent`).
"""

from setpoint.actuators import intent
from setpoint.actuators.backend import Backend, CallRecorder, Outcome
from setpoint.actuators.executor import Actuator
from setpoint.actuators.records import ExecutionRecord, ExecutionRecords
from setpoint.actuators.sim_backend import SimFleetBackend
from setpoint.actuators.state import InstanceState, TargetState
from setpoint.actuators.verify import Verifier

__all__ = [
    "Actuator",
    "Backend",
    "CallRecorder",
    "ExecutionRecord",
    "ExecutionRecords",
    "InstanceState",
    "Outcome",
    "SimFleetBackend",
    "TargetState",
    "Verifier",
    "intent",
]
