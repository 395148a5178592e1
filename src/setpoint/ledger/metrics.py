"""The outcome metrics and incident timelines, read from the views of ``0003_outcome_views.sql``.

``Outcomes`` holds the rows of the ``outcomes`` view by dimension; ``Timeline`` is what one
incident's plot shows, built only from what the ledger recorded: the values of the anomalous
signals in the anomaly payloads and the SLIs the verifications observed (the raw telemetry is not
in the ledger), and the moments of detection, diagnosis, each action, rollback, verification,
escalation and recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from setpoint.ledger.store import LedgerStore

TOIL_MINUTES = 45.0
"""Assumed on-call minutes an incident costs when a human handles it (the views' constant)."""

METRIC_COLUMNS = (
    "incidents", "resolved", "auto_resolved", "auto_resolution_rate", "escalated",
    "escalation_rate", "self_recovered", "actions_taken", "rollbacks", "rollback_rate",
    "false_actions_n", "false_action_rate", "mttd_s", "mean_diagnose_s", "mean_act_s",
    "mean_recover_s", "mttr_s", "pages_avoided", "toil_hours_returned",
)  # fmt: skip


@dataclass(frozen=True)
class Outcomes:
    """The ``outcomes`` view, by dimension (``total``, ``week``, ``service``, ``verb``)."""

    rows: dict[str, list[dict[str, Any]]]

    @classmethod
    def read(cls, store: LedgerStore, toil_minutes: float = TOIL_MINUTES) -> Outcomes:
        res = store.query(f"SELECT * FROM {store.database}.outcomes").dicts()
        by: dict[str, list[dict[str, Any]]] = {"total": [], "week": [], "service": [], "verb": []}
        for r in res:
            r["toil_hours_returned"] = round(r["pages_avoided"] * toil_minutes / 60, 2)
            by.setdefault(r["dimension"], []).append(r)
        return cls(by)

    @property
    def total(self) -> dict[str, Any]:
        return self.rows["total"][0] if self.rows["total"] else {}


@dataclass
class Timeline:
    """What one incident's plot shows."""

    incident_id: str
    service: str
    outcome: str
    signal: str = ""
    points: list[tuple[datetime, float]] = field(default_factory=list)
    baseline: list[tuple[datetime, float]] = field(default_factory=list)
    observed: list[tuple[datetime, float]] = field(default_factory=list)
    marks: list[tuple[datetime, str]] = field(default_factory=list)
    """(when, what): onset, detected, diagnosed, verb executed, rolled back, verified..."""


_MARKED = {
    "incident.opened": "diagnosed",
    "incident.recovered": "recovered",
    "action.executed": "{verb} {service} executed",
    "action.failed": "{verb} {service} failed",
    "action.undone": "rolled back {service}",
    "verification.recovered": "verified recovered",
    "verification.not_recovered": "verified NOT recovered",
    "escalation": "escalated",
}


def incidents(store: LedgerStore, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recent incidents (``incident_facts`` rows), newest first."""
    return store.query(
        f"SELECT * FROM {store.database}.incident_facts ORDER BY diagnosed_at DESC "
        f"LIMIT {int(limit)}"
    ).dicts()


def timelines(store: LedgerStore, facts: list[dict[str, Any]]) -> list[Timeline]:
    """The timeline of each incident in ``facts`` (see :class:`Timeline`)."""
    if not facts:
        return []
    rows = store.query(
        f"SELECT incident_id, ts, event_type, verb, service, payload FROM {store.database}.ledger "
        "WHERE incident_id IN %(ids)s AND stage != 'detect' ORDER BY ts, seq",
        {"ids": [f["incident_id"] for f in facts]},
    ).dicts()
    out = []
    for f in facts:
        mine = [r for r in rows if r["incident_id"] == f["incident_id"]]
        out.append(build_timeline(f, mine))
    return out


def build_timeline(fact: dict[str, Any], rows: list[dict[str, Any]]) -> Timeline:
    """One incident's :class:`Timeline` from its fact row and its ledger rows (pure)."""
    tl = Timeline(fact["incident_id"], fact["service"], fact["outcome"])
    tl.marks.append((fact["onset_at"], "onset"))
    tl.marks.append((fact["detected_at"], "detected"))
    for r in rows:
        p = orjson.loads(r["payload"]) if r["payload"] else {}
        if r["event_type"].startswith("anomaly."):
            _signal_points(tl, r["ts"], p)
        elif r["event_type"].startswith("verification.") and tl.signal:
            key = f"{tl.service}.{tl.signal}"
            if key in p.get("observed", {}):
                tl.observed.append((r["ts"], float(p["observed"][key])))
        label = _MARKED.get(r["event_type"])
        if label is not None and (r["event_type"] != "action.executed" or r["verb"] != "undo"):
            tl.marks.append((r["ts"], label.format(verb=r["verb"], service=r["service"])))
    return tl


def _signal_points(tl: Timeline, ts: datetime, payload: dict[str, Any]) -> None:
    """The incident's main signal: the first signal of its first anomaly, followed through every
    anomaly row of that service that reports it."""
    if payload.get("service") != tl.service and tl.signal == "":
        return
    for s in payload.get("signals", []):
        if tl.signal == "":
            tl.signal = s["name"]
        if s["name"] == tl.signal and payload.get("service") == tl.service:
            tl.points.append((ts, float(s["value"])))
            tl.baseline.append((ts, float(s["baseline"])))


def trend(store: LedgerStore) -> tuple[str, list[dict[str, Any]]]:
    """The metrics of the trend plots per period: week when the ledger spans more than 8 weeks,
    day when it spans more than 2 days, else hour (a demo's ledger spans an hour or two)."""
    db = store.database
    first, last = store.query_rows(
        f"SELECT min(diagnosed_at), max(diagnosed_at) FROM {db}.incident_facts"
    )[0]
    if first is None or last is None:
        return "week", []
    days = (last - first).total_seconds() / 86400
    unit = "week" if days > 56 else "day" if days > 2 else "hour"
    bucket = {"week": "toMonday(diagnosed_at)", "day": "toDate(diagnosed_at)",
              "hour": "toStartOfHour(diagnosed_at)"}[unit]  # fmt: skip
    rows = store.query(
        f"SELECT toString({bucket}) AS key, count() AS incidents, "
        "countIf(outcome = 'resolved') AS resolved, "
        "countIf(outcome = 'self_recovered') AS self_recovered, "
        "countIf(outcome = 'escalated') AS escalated, "
        "round(countIf(auto_resolved) / incidents, 4) AS auto_resolution_rate, "
        "round(escalated / incidents, 4) AS escalation_rate, "
        "round(if(sum(actions) = 0, 0, sum(rolled_back) / sum(actions)), 4) AS rollback_rate, "
        "round(if(sum(actions) = 0, 0, sum(false_actions) / sum(actions)), 4) "
        "AS false_action_rate, "
        "avgIf(ttd_s, isNotNull(ttd_s)) AS mttd_s, avgIf(tact_s, isNotNull(tact_s)) AS mean_act_s, "
        "avgIf(trec_s, isNotNull(trec_s)) AS mean_recover_s, "
        "avgIf(ttr_s, isNotNull(ttr_s) AND outcome = 'resolved') AS mttr_s "
        f"FROM {db}.incident_facts GROUP BY key ORDER BY key"
    ).dicts()
    return unit, rows
