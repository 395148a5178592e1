"""Stage 2, diagnose. Pure: no I/O.

Input: anomalies (firing / resolved), change events and the dependency graph. Output: incidents,
each with ranked root-cause hypotheses, their evidence and the actions that would address them.
Invariants: related anomalies close in time share one incident id; suppressed anomalies never
open an incident; an incident whose top hypothesis is weak or unknown is marked novel.
"""

from setpoint.causal.diagnoser import ACTIONS, Diagnoser
from setpoint.causal.topology import ServiceDecl, Topology

__all__ = ["ACTIONS", "Diagnoser", "ServiceDecl", "Topology"]
