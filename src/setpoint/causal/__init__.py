"""Stage 2, diagnose. Pure: no I/O, no wall clock.

Input: a declared topology (as text) and trace spans. Output: the dependency graph.
"""

from setpoint.causal.graph import DependencyGraph, EdgeShift, infer_kind
from setpoint.causal.topology import NodeKind, NodeSpec, Topology, load_topology

__all__ = [
    "DependencyGraph",
    "EdgeShift",
    "NodeKind",
    "NodeSpec",
    "Topology",
    "infer_kind",
    "load_topology",
]
