"""Stage 2, diagnose. Pure: no I/O, no wall clock.

Input: the detect stage's anomalies (firing / resolved) and health summaries, change events,
trace spans and error logs, each with its event time; a declared topology (as text). Output:
incidents: related anomalies grouped under one id, revised as evidence arrives and closed when
they recover, each with ranked root-cause hypotheses (a service or a change of it, a fault class,
a score, the evidence for and against with its provenance, the verbs that address it), a
confidence, and a ``novel`` flag when nothing known explains it (the decide stage escalates).

Invariants: suppressed anomalies never open an incident; an incident's revisions increase by one;
hypothesis scores and confidences are in [0, 1]; the same values in give the same ranking out.
"""

from setpoint.causal.config import DiagnosisConfig
from setpoint.causal.diagnoser import Diagnoser
from setpoint.causal.evidence import ChangeLog, LogBook, LogBurst, NodeEvidence, Signal, collect
from setpoint.causal.faults import ACTIONS, fault_class
from setpoint.causal.graph import DependencyGraph, EdgeShift, infer_kind
from setpoint.causal.incidents import confidence, hypotheses
from setpoint.causal.metrics import SYMPTOM_KINDS, MetricKind, MetricTraits, classify
from setpoint.causal.pagerank import pagerank_scores
from setpoint.causal.ranking import NodeScore, rank
from setpoint.causal.series import Deviation, SeriesStore
from setpoint.causal.topology import NodeKind, ServiceDecl, Topology, load_topology

__all__ = [
    "ACTIONS",
    "SYMPTOM_KINDS",
    "ChangeLog",
    "DependencyGraph",
    "Deviation",
    "Diagnoser",
    "DiagnosisConfig",
    "EdgeShift",
    "LogBook",
    "LogBurst",
    "MetricKind",
    "MetricTraits",
    "NodeEvidence",
    "NodeKind",
    "NodeScore",
    "SeriesStore",
    "ServiceDecl",
    "Signal",
    "Topology",
    "classify",
    "collect",
    "confidence",
    "fault_class",
    "hypotheses",
    "infer_kind",
    "load_topology",
    "pagerank_scores",
    "rank",
]
