"""`ledger show` and the report's timelines, from rows like the ledger returns them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from setpoint.ledger import Record
from setpoint.ledger.metrics import build_timeline
from setpoint.ledger.story import outcome, render
from setpoint.ledger.synth import story

T0 = datetime(2026, 2, 2, 10, tzinfo=UTC)


def rows_of(kind: str) -> list[dict[str, Any]]:
    """The rows of the first synthetic incident whose story contains ``kind``."""
    rng = random.Random(11)
    for i in range(200):
        evs = story(i, T0, rng)
        if any(e.event_type == kind for e in evs):
            break
    out = []
    for seq, ev in enumerate(evs, start=1):
        r = Record.from_event(ev)
        p = json.loads(r.payload)
        row = {f: getattr(r, f) for f in r.__struct_fields__}
        row.update(chain="p0", seq=seq, verb=p.get("verb", ""), onset=None, actor="", ref_id="")
        if ev.event_type.startswith("anomaly.") or ev.event_type.startswith("incident."):
            row["onset"] = datetime.fromisoformat(p.get("onset") or p.get("opened_at"))
        out.append(row)
    return out


def test_show_tells_the_escalated_story_in_order_with_its_details() -> None:
    text = "\n".join(render(rows_of("escalation")))
    steps = ["signal error_rate", "incident.opened", "#1 ", "policy.decision", "by rules [",
             "command.issued", "action.executed", "call sim.execute (ok", "not_recovered",
             "action.undone", "reverses action", "escalation", "handed to a human",
             "outcome: escalated"]  # fmt: skip
    at = [text.index(s) for s in steps]
    assert at == sorted(at), text


def test_show_times_each_phase() -> None:
    last = render(rows_of("verification.recovered"))[-1]
    assert last.startswith("outcome: resolved")
    assert all(f"{phase} " in last for phase in ("detect", "act", "recover", "total"))


def test_detections_own_copy_of_an_anomaly_is_not_repeated() -> None:
    lines = render(rows_of("escalation"))
    assert sum("anomaly.firing" in line for line in lines) == 1


def test_outcome_follows_the_views_rule() -> None:
    assert outcome(["verification.recovered", "action.undone"]) == "resolved after a rollback"
    assert outcome(["incident.recovered"]) == "self_recovered"
    assert outcome(["incident.opened"]) == "open"


def test_timeline_marks_the_moments_and_follows_the_signal() -> None:
    rows = [r for r in rows_of("escalation") if r["stage"] != "detect"]
    first = rows[0]
    fact = {
        "incident_id": first["incident_id"],
        "service": first["service"],
        "outcome": "escalated",
        "onset_at": first["onset"],
        "detected_at": first["ts"],
    }
    tl = build_timeline(fact, rows)
    labels = [m[1] for m in tl.marks]
    assert labels[:3] == ["onset", "detected", "diagnosed"]
    assert any(lbl.endswith("executed") for lbl in labels)
    assert {"verified NOT recovered", "escalated"} <= set(labels)
    assert any(lbl.startswith("rolled back") for lbl in labels)
    assert tl.signal == "error_rate" and tl.points and tl.observed
    assert tl.observed[0][1] == 0.2  # what the failed verification observed
