"""The ``setpoint`` strategy: the whole loop (:class:`~setpoint.suite.loop.ClosedLoop`), its run
turned into a :class:`~setpoint.suite.trace.Trace` from the ledger events and the fleet's log."""

from __future__ import annotations

import tempfile
from pathlib import Path

from setpoint.actuators import ExecutionRecords
from setpoint.causal import Topology
from setpoint.policy import Policy
from setpoint.schemas import LedgerEvent
from setpoint.sim.scenario import Scenario
from setpoint.suite.loop import ClosedLoop, LoopConfig, LoopRun
from setpoint.suite.trace import FleetAction, Opened, Page, Trace

NAME = "setpoint"


def run(
    scenario: Scenario, policy: Policy, topology: Topology, seed: int, config: LoopConfig
) -> Trace:
    """Run ``scenario`` through the loop and describe what it did."""
    with tempfile.TemporaryDirectory(prefix="setpoint-suite-") as tmp:
        records = ExecutionRecords(Path(tmp) / "actuator.sqlite")
        try:
            loop = ClosedLoop(scenario, policy, topology, records, _seeded(config, seed))
            return trace_of(loop.run(), seed)
        finally:
            records.close()


def _seeded(config: LoopConfig, seed: int) -> LoopConfig:
    from dataclasses import replace

    return replace(config, seed=seed)


def trace_of(run: LoopRun, seed: int) -> Trace:
    """The trace of a loop run: incidents and pages from its ledger events, actions from the
    fleet's own log (joined to the commands behind them)."""
    trace = Trace(run.scenario, NAME, seed, run.start, run.end, faults=run.faults)
    trace.incidents = _incidents(run.events)
    trace.pages = [p for e in run.events if (p := _page(e)) is not None]
    for a in run.applied:
        cmd = run.commands.get(a["action_id"])
        trace.actions.append(
            FleetAction(
                t=a["t"], verb=a["verb"], target=a["target"], ok=a["ok"], actor=NAME,
                params=a["params"], delay=a["effect_delay_s"],
                incident=cmd.incident_id if cmd else "",
                approved_by=cmd.approved_by if cmd else None, undo=a["undo"], detail=a["detail"],
                captured=a["captured"],
            )
        )  # fmt: skip
    return trace


def _incidents(events: list[LedgerEvent]) -> list[Opened]:
    out: dict[str, Opened] = {}
    for e in events:
        if not e.event_type.startswith("incident."):
            continue
        t = e.ts.timestamp()
        inc = out.get(e.incident_id)
        if inc is None:
            inc = out[e.incident_id] = Opened(e.incident_id, t)
        inc.services = tuple(sorted({*inc.services, *e.payload.get("services", [])}))
        inc.label = e.summary
        if e.event_type == "incident.recovered":
            inc.closed = t
    for e in events:
        inc = out.get(e.incident_id)
        if inc is not None:
            inc.outcome = _outcome(inc.outcome, e.event_type)
    return list(out.values())


def _outcome(was: str, event_type: str) -> str:
    order = ["", "recovered by itself", "escalated", "recovered"]
    now = {
        "incident.recovered": "recovered by itself",
        "escalation": "escalated",
        "verification.recovered": "recovered",
    }.get(event_type, "")
    return now if order.index(now) > order.index(was) else was


def _page(e: LedgerEvent) -> Page | None:
    if e.event_type == "escalation":
        code = str(e.payload.get("reason_code", ""))
        return Page(e.ts.timestamp(), "escalation", e.incident_id, f"{code}: {e.summary}")
    if e.event_type == "approval.requested":
        return Page(e.ts.timestamp(), "approval", e.incident_id, e.summary, e.service)
    return None
