"""The demo's live timeline: one readable line per step of each incident, read from the ledger
topic as the stages write it."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from confluent_kafka import Consumer

from setpoint.errors import InputError
from setpoint.schemas import LedgerEvent
from setpoint.settings import Settings
from setpoint.streams.codec import decode
from setpoint.streams.topics import LEDGER, full_name

_LABEL = {
    "anomaly.firing": "DETECTED",
    "anomaly.suppressed": "SUPPRESSED",
    "incident.opened": "INCIDENT",
    "incident.recovered": "RECOVERED",
    "policy.decision": "DECIDED",
    "approval.requested": "APPROVAL?",
    "approval.decided": "APPROVAL",
    "command.issued": "COMMAND",
    "action.executed": "EXECUTED",
    "action.rejected": "REJECTED",
    "action.failed": "FAILED",
    "action.undone": "ROLLED BACK",
    "verification.recovered": "VERIFIED",
    "verification.not_recovered": "NOT FIXED",
    "verification.inconclusive": "UNCLEAR",
    "escalation": "ESCALATED",
    "dead_letter": "DEAD LETTER",
}
_COLOR = {"DETECTED": 33, "INCIDENT": 35, "DECIDED": 36, "EXECUTED": 34, "VERIFIED": 32,
          "RECOVERED": 32, "ESCALATED": 31, "NOT FIXED": 31, "ROLLED BACK": 33,
          "REJECTED": 31, "APPROVAL?": 35, "APPROVAL": 35}  # fmt: skip


@dataclass
class _Story:
    opened: datetime
    first_wall: float
    lines: int = 0


@dataclass
class Timeline:
    """Follows the ledger topic and prints each step, timed from its incident's opening.

    ``on_event`` sees every event (the demo uses it to play the approving human).
    """

    settings: Settings
    out: TextIO = sys.stdout
    on_event: Callable[[LedgerEvent], None] | None = None
    events: list[LedgerEvent] = field(default_factory=list)
    _stories: dict[str, _Story] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        c = Consumer({"bootstrap.servers": self.settings.kafka_bootstrap(),
                      "group.id": f"timeline-{uuid.uuid4().hex[:8]}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
        c.subscribe([full_name(self.settings.topic_prefix, LEDGER)])
        try:
            while not self._stop.is_set():
                m = c.poll(0.2)
                if m is None or m.error():
                    continue
                try:
                    ev = decode(LEDGER, m.value())
                except InputError:
                    continue
                self.events.append(ev)
                self._print(ev)
                if self.on_event is not None:
                    self.on_event(ev)
        finally:
            c.close()

    def _print(self, ev: LedgerEvent) -> None:
        label = _LABEL.get(ev.event_type)
        if label is None or (ev.event_type.startswith("anomaly") and ev.stage != "detect"):
            return
        inc = ev.incident_id
        story = self._stories.get(inc) if inc else None
        if inc and story is None:
            story = self._stories[inc] = _Story(ev.ts, time.monotonic())
        rel = f"+{(ev.ts - story.opened).total_seconds():6.0f}s" if story else " " * 8
        tag = inc[-6:] if inc else "------"
        code = _COLOR.get(label, 0)
        colored = f"\033[{code}m{label:<11}\033[0m" if self.out.isatty() else f"{label:<11}"
        svc = (ev.service or "")[:10]
        print(f"{ev.ts:%H:%M:%S} {rel} [{tag}] {svc:<10} {colored} {ev.summary[:110]}",
              file=self.out, flush=True)  # fmt: skip


def summarise(events: list[LedgerEvent], truth: list[dict[str, Any]]) -> list[list[str]]:
    """One row per incident: what it was, what was done, how it ended, how long it took."""
    by_inc: dict[str, list[LedgerEvent]] = {}
    for ev in events:
        if ev.incident_id:
            by_inc.setdefault(ev.incident_id, []).append(ev)
    rows = []
    for inc, evs in by_inc.items():
        evs.sort(key=lambda e: e.ts)
        rows.append(_row(inc, evs, truth))
    return rows


def _row(inc: str, evs: list[LedgerEvent], truth: list[dict[str, Any]]) -> list[str]:
    opened = next((e for e in evs if e.event_type == "incident.opened"), evs[0])
    last_inc = [e for e in evs if e.event_type.startswith("incident.")][-1:]
    hyp = last_inc[0].summary.split(";")[0] if last_inc else "?"
    acts = [e for e in evs if e.event_type == "action.executed"]
    verbs = ", ".join(f"{e.payload['verb']}→{e.payload['target']}" for e in acts
                      if e.payload.get("verb") != "undo") or "-"  # fmt: skip
    outcome = _outcome(evs)
    fault = _match(truth, opened)
    onset = fault["start"] if fault else None
    detect = _first(evs, "anomaly.firing") or opened
    recovered = _first(evs, "verification.recovered")
    ttd = f"{detect.ts.timestamp() - onset:.0f}s" if onset else "-"
    ttr = f"{recovered.ts.timestamp() - onset:.0f}s" if (onset and recovered) else "-"
    right = _correct(fault, acts, outcome) if fault else "?"
    truth_text = f"{fault['fault_class']} on {fault['root']}" if fault else "?"
    return [inc, truth_text, hyp, verbs, outcome, right, ttd, ttr]


def _first(evs: list[LedgerEvent], kind: str) -> LedgerEvent | None:
    return next((e for e in evs if e.event_type == kind), None)


def _outcome(evs: list[LedgerEvent]) -> str:
    kinds = [e.event_type for e in evs]
    if "verification.recovered" in kinds:
        return "recovered" + (" after rollback" if "action.undone" in kinds else "")
    if "escalation" in kinds:
        return "escalated"
    if "incident.recovered" in kinds:
        return "recovered by itself"
    return "open"


def _match(truth: list[dict[str, Any]], opened: LedgerEvent) -> dict[str, Any] | None:
    t = opened.ts.timestamp()
    cands = [f for f in truth if f.get("start", 0) - 60 <= t <= f.get("end", f["start"] + 1800)]
    return min(cands, key=lambda f: abs(t - f["start"]), default=None)


def _correct(fault: dict[str, Any], acts: list[LedgerEvent], outcome: str) -> str:
    fixed_by = set(fault.get("fixed_by") or [])
    if not fixed_by:
        return "yes" if outcome == "escalated" else "no"
    first = next((a for a in acts if a.payload.get("verb") != "undo"), None)
    if first is None:
        return "no"
    ok = first.payload["verb"] in fixed_by and first.payload["target"] == fault["root"]
    return "yes" if ok else "no"
