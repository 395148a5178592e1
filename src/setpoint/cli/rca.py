"""``setpoint rca CASE_DIR``: rank the root cause of a recorded incident, the way the stream does.

The case's metrics are replayed as a stream, row by row in time order, through the detect stage
(:class:`~setpoint.detectors.DetectionStage`, flushed after every row) into the diagnose stage
(:class:`~setpoint.causal.Diagnoser`): the same code the workers run. The case's injection time
is the incident's onset (an external alert opening the incident, as the published baselines
assume). Prints the services, most likely root cause first, one per line.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from setpoint.causal import DependencyGraph, Diagnoser, DiagnosisConfig
from setpoint.cli.rca_case import Case, NameMap, load_case
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.schemas import Incident

_SERVICE_NAMES = (r"[^A-Za-z0-9._:/-]", r"[A-Za-z0-9]", "s")
_METRIC_NAMES = (r"[^A-Za-z0-9_.:/-]", r"[A-Za-z_]", "m_")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rca",
        help="rank the likely root causes of a recorded incident (benchmark case folder)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("case", type=Path, help="case folder: metrics.csv, case.json, [graph.csv]")
    p.add_argument(
        "--method",
        choices=["causal", "pagerank", "anomaly"],
        default="causal",
        help="ranking method (default causal; the others are measured alternatives)",
    )
    p.add_argument("--scores", action="store_true", help="print '<service>\\t<score>'")
    p.add_argument(
        "--explain", action="store_true", help="also print the incident's hypotheses as # lines"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    case = load_case(args.case)
    incident, ranked = diagnose_case(case, DiagnosisConfig(method=args.method))
    for name, score in ranked:
        print(f"{name}\t{score:.6g}" if args.scores else name)
    if args.explain:
        _explain(incident)
    return 0


def diagnose_case(case: Case, config: DiagnosisConfig) -> tuple[Incident, list[tuple[str, float]]]:
    """Replay a case through detection and diagnosis; the incident and every service ranked."""
    replay = replay_case(case, config)
    return rank_case(replay, config)


@dataclass
class Replay:
    """A case replayed through the stages: the diagnoser holds every series, ready to rank."""

    case: Case
    diagnoser: Diagnoser
    names: NameMap


def replay_case(case: Case, config: DiagnosisConfig) -> Replay:
    """Feed a case's rows, in time order, to the detect stage (flushed after every row) and its
    outputs to a ``Diagnoser``, as the stream does."""
    services, metrics = NameMap(*_SERVICE_NAMES), NameMap(*_METRIC_NAMES)
    series = [(services.encode(s), metrics.encode(m)) for s, m in case.series]
    graph = DependencyGraph.from_edges(
        (services.encode(a), services.encode(b)) for a, b in case.edges
    )
    stage = DetectionStage(DetectionConfig(health_interval_s=0.0), domains=graph.domains())
    diag = Diagnoser(graph, config)
    for t, row in zip(case.times, case.rows, strict=True):
        for (svc, name), v in zip(series, row, strict=True):
            if math.isfinite(v):
                stage.observe(svc, name, v, t)
        anomalies, health = stage.flush(t)
        for h in health:
            diag.on_health(h)
        for a in anomalies:
            diag.on_anomaly(a)
    return Replay(case, diag, services)


def rank_case(replay: Replay, config: DiagnosisConfig) -> tuple[Incident, list[tuple[str, float]]]:
    """Open the case's incident at its injection time and rank every service of the case."""
    case, diag = replay.case, replay.diagnoser
    diag.config = config
    incident = diag.open_incident(case.inject_time, case.times[-1], reason="case onset")
    scored = [(replay.names.decode(s.node), s.score) for s in diag.ranking(incident.incident_id)]
    known = set(case.services)
    ranked = [(n, v) for n, v in scored if n in known]
    seen = {n for n, _ in ranked}
    ranked += [(n, 0.0) for n in case.services if n not in seen]
    return incident, ranked


def _explain(incident: Incident) -> None:
    print(f"# {incident.summary}")
    for h in incident.hypotheses[:5]:
        print(f"# {h.rank}. {h.service} {h.fault_class.value} score={h.score:.2f} -> {h.actions}")
        for e in h.evidence_for[:5]:
            print(f"#      + [{e.kind.value}] {e.service}: {e.summary}")
        for e in h.evidence_against[:3]:
            print(f"#      - [{e.kind.value}] {e.service}: {e.summary}")
