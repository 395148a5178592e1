"""Diagnosis of the simulated fleet's scenarios, in process (no Kafka): does the Diagnoser name the
scenario's root cause and fault class?

    .venv/bin/python bench/sim_diagnosis.py [--feed full|health|anomalies] [SCENARIO ...]

Needs the simulated fleet (``src/setpoint/sim``, ``scenarios/``, ``config/topology.yaml``) of the
walking skeleton: run it after ``rca`` is merged with it. Each scenario's telemetry is generated
(seed 1), fed in event-time order to the detect stage, flushed every 5 s, and its outputs handed
to the ``Diagnoser`` as a stream agent would: ``--feed anomalies`` gives it anomalies and changes
only, ``health`` adds the detect stage's health summaries, ``full`` adds trace spans and error
logs. Anomalies starting in the first nine minutes (or two minutes before the scenario's fault,
if earlier) are skipped: they are the detector's own warm-up (its ``--detector-warmup`` is
shortened so that it can score within the scenarios' ten-minute quiet start). A scenario without
a fault is right when every incident it raised is novel (escalated, not acted on).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from setpoint.causal import Diagnoser, Topology
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.schemas import ChangeEvent, Incident, LogEvent, TraceSpan

ROOT = Path(__file__).resolve().parents[1]
STEP_S = 5.0
WARMUP_S = 540.0


def run(name: str, feed: str, warmup: int) -> tuple[Any, list[Incident], float]:
    # The fleet comes with the walking skeleton: imported here so that this file reads (and
    # lints) on a branch that does not have it yet.
    from setpoint.sim.emit import event_time
    from setpoint.sim.scenario import load_scenario

    topology = Topology.from_text((ROOT / "config/topology.yaml").read_text(), "topology.yaml")
    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    fleet = sc.build(seed=1)
    faults = sc.faults()
    onset = fleet.start + faults[0].at if faults else fleet.start + sc.duration_s
    # Anomalies starting before this are the detector's own warm-up, not the scenario's.
    horizon = min(fleet.start + WARMUP_S, onset - 120)
    stage = DetectionStage(DetectionConfig(detector_params={"warmup": warmup}), topology.domains())
    diag = Diagnoser(topology.graph())
    events = sorted(fleet.step(min(fleet.start + sc.duration_s, onset + 420)), key=event_time)
    out: list[Incident] = []
    i = 0
    while i < len(events):
        bound = event_time(events[i]) + STEP_S
        while i < len(events) and event_time(events[i]) < bound:
            out += _ingest(events[i], stage, diag, feed)
            i += 1
        anomalies, health = stage.flush(bound)
        for h in health if feed != "anomalies" else ():
            diag.on_health(h)
        for a in anomalies:
            if a.onset.timestamp() >= horizon:
                out += diag.on_anomaly(a, bound)
        out += diag.tick(bound)
    return (faults[0].expect if faults else None), out, fleet.start


def _ingest(event: Any, stage: DetectionStage, diag: Diagnoser, feed: str) -> list[Incident]:
    if not isinstance(event, TraceSpan):
        stage.ingest(event)
    if isinstance(event, ChangeEvent):
        return diag.on_change(event)
    if feed == "full" and isinstance(event, TraceSpan):
        diag.on_span(event)
    if feed == "full" and isinstance(event, LogEvent):
        diag.on_log(event)
    return []


def _top(inc: Incident | None) -> str:
    if inc is None or not inc.hypotheses:
        return "-"
    h = inc.hypotheses[0]
    return (
        f"{h.service}/{h.fault_class.value} ({inc.confidence:.2f}{', novel' if inc.novel else ''})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*")
    ap.add_argument("--feed", choices=["full", "health", "anomalies"], default="full")
    ap.add_argument("--detector-warmup", type=int, default=30)
    args = ap.parse_args()
    names = args.scenarios or sorted(
        p.stem for p in (ROOT / "scenarios").glob("*.yaml") if p.stem != "demo"
    )
    print(f"feed: {args.feed}")
    print("| scenario | expected | first revision | last revision | right |")
    print("|---|---|---|---|---|")
    for name in names:
        expect, incidents, _ = run(name, args.feed, args.detector_warmup)
        want = f"{expect.root}/{expect.fault_class}" if expect else "no incident"
        first, last = (incidents[0], incidents[-1]) if incidents else (None, None)
        got = last.hypotheses[0] if last and last.hypotheses else None
        right = (
            expect is not None
            and got is not None
            and (got.service, got.fault_class.value) == (expect.root, str(expect.fault_class))
        ) or (expect is None and all(i.novel for i in incidents))
        print(f"| {name} | {want} | {_top(first)} | {_top(last)} | {'yes' if right else 'no'} |")


if __name__ == "__main__":
    main()
