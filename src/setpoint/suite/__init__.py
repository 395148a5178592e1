"""The scenario suite: whole scenarios through the stages, in one process and in event time.

Input: scenario files (``scenarios/``), a policy and a topology. Output: every step of every
incident as ledger events, and the fleet's ground truth, from which outcomes are scored.
Invariant: the stage objects are the stream workers' own; only Kafka is left out.
"""

from setpoint.suite.backend import InProcessFleetBackend
from setpoint.suite.loop import ClosedLoop, LoopConfig, LoopRun

__all__ = ["ClosedLoop", "InProcessFleetBackend", "LoopConfig", "LoopRun"]
