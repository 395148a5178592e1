"""An incident's story as text: every ledger row in order, with the details an auditor asks for
(the signal values, the hypotheses and their evidence, the policy rules and version, who
approved, the exact calls, the verification, the rollback or escalation), timed from the first
row, and an outcome line with the durations. Pure: rows in, lines out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

Row = dict[str, Any]
_Detail = Callable[[dict[str, Any]], list[str]]


def render(rows: list[Row], width: int = 110, fold: bool = True) -> list[str]:
    """The story of ``rows`` (one incident's rows, in order) as lines of text.

    With ``fold``, repeats are folded: an anomaly that fires again (same anomaly id) and an
    incident update that leaves the diagnosis unchanged (same summary) get no line of their own.
    """
    if not rows:
        return []
    t0 = rows[0]["ts"]
    inc = rows[0]["incident_id"] or "(no incident)"
    shown = [r for r in rows if not _is_detect_copy(r)]
    kept = _unfolded(shown) if fold else shown
    lines = [f"incident {inc}: {len(rows)} ledger entries from {t0:%Y-%m-%d %H:%M:%S} UTC"
             + (f" ({len(shown) - len(kept)} repeats folded)" if len(kept) < len(shown)
                else "")]  # fmt: skip
    for r in kept:
        dt = (r["ts"] - t0).total_seconds()
        head = f"+{_dur(dt):>7}  {r['stage']:<8} {r['event_type']:<26} {r['summary']}"
        lines.append(head[:width])
        detail = _DETAILS.get(r["event_type"].split(".")[0])
        if detail is not None:
            lines += [("              " + d)[:width] for d in detail(_payload(r))]
    lines += outcome_lines(rows)
    return lines


def _is_detect_copy(r: Row) -> bool:
    # The diagnose stage records the same anomaly again, with its incident.
    return bool(r["stage"] == "detect" and r["event_type"].startswith("anomaly.")
                and r["incident_id"])  # fmt: skip


def _unfolded(rows: list[Row]) -> list[Row]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        kind = r["event_type"]
        if kind.startswith("anomaly."):
            key = (kind, r["entity_id"])
        elif kind == "incident.updated":
            key = (kind, r["summary"])
        else:
            out.append(r)
            continue
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def outcome_lines(rows: list[Row]) -> list[str]:
    """The closing lines: how it ended and how long each phase took."""
    kinds = [r["event_type"] for r in rows]
    first = {k: next(r["ts"] for r in rows if r["event_type"] == k) for k in set(kinds)}
    onset = _onset(rows)
    detected = first.get("anomaly.firing") or first.get("incident.opened")
    acted = next((r["ts"] for r in rows if r["event_type"] == "action.executed"
                  and r.get("verb") != "undo"), None)  # fmt: skip
    recovered = min((first[k] for k in ("verification.recovered", "incident.recovered")
                     if k in first), default=None)  # fmt: skip
    phases = [("detect", onset, detected), ("diagnose", detected, first.get("incident.opened")),
              ("act", first.get("incident.opened"), acted), ("recover", acted, recovered),
              ("total (onset to recovery)", onset, recovered)]  # fmt: skip
    timings = ", ".join(f"{name} {_dur((b - a).total_seconds())}" for name, a, b in phases
                        if a is not None and b is not None)  # fmt: skip
    return [f"outcome: {outcome(kinds)}" + (f"; {timings}" if timings else "")]


def outcome(kinds: list[str]) -> str:
    """How an incident ended, from its event types (the same rule as the ``incident_facts``
    view).

    Examples
    --------
    >>> outcome(["incident.opened", "action.executed", "verification.recovered"])
    'resolved'
    >>> outcome(["incident.opened", "escalation"])
    'escalated'
    """
    if "verification.recovered" in kinds:
        return "resolved" + (" after a rollback" if "action.undone" in kinds else "")
    if "escalation" in kinds:
        return "escalated"
    if "incident.recovered" in kinds:
        return "self_recovered"
    return "open"


def _onset(rows: list[Row]) -> datetime | None:
    onsets = [r["onset"] for r in rows if r.get("onset") is not None]
    return min(onsets) if onsets else None


def _payload(r: Row) -> dict[str, Any]:
    try:
        p = orjson.loads(r["payload"])
    except orjson.JSONDecodeError:
        return {}
    return p if isinstance(p, dict) else {}


def _dur(s: float) -> str:
    """
    >>> _dur(12.5), _dur(610), _dur(7300)
    ('12.5s', '10m10s', '2h01m')
    """
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _anomaly(p: dict[str, Any]) -> list[str]:
    out = []
    for s in p.get("signals", [])[:8]:
        out.append(f"signal {s.get('name')}: {s.get('value'):.4g} vs baseline "
                   f"{s.get('baseline'):.4g} ({s.get('direction')}, score {s.get('score', 0):.2f}, "
                   f"onset {str(s.get('onset', ''))[11:19]})")  # fmt: skip
    for c in p.get("changes", [])[:4]:
        out.append(f"change {c.get('change_type')} {c.get('service')} "
                   f"{c.get('previous_version') or ''} -> {c.get('version') or ''} "
                   f"at {str(c.get('ts', ''))[11:19]}")  # fmt: skip
    return out


def _incident(p: dict[str, Any]) -> list[str]:
    out = []
    for h in p.get("hypotheses", [])[:3]:
        acts = ", ".join(h.get("actions", []))
        out.append(f"#{h.get('rank')} {h.get('fault_class')} on {h.get('service')} "
                   f"(score {h.get('score', 0):.2f}) -> {acts}")  # fmt: skip
        out += [f"   for: [{e.get('kind')}] {e.get('summary')}" for e in h.get("evidence_for", [])]
        out += [f"   against: [{e.get('kind')}] {e.get('summary')}"
                for e in h.get("evidence_against", [])]  # fmt: skip
    return out


def _policy(p: dict[str, Any]) -> list[str]:
    rules = ", ".join(p.get("rule_ids", [])) or "-"
    out = [f"{p.get('outcome')} by rules [{rules}], policy version {p.get('policy_hash')}"
           + (f", trust {p['trust_mode']}" if p.get("trust_mode") else "")]  # fmt: skip
    return out + [f"reason: {r}" for r in p.get("reasons", [])]


def _command(p: dict[str, Any]) -> list[str]:
    params = orjson.dumps(p.get("params", {})).decode()
    who = f", approved by {p['approved_by']}" if p.get("approved_by") else ""
    return [f"{p.get('verb')} {p.get('target')} {params}{who}; key {p.get('idempotency_key')}, "
            f"expires {str(p.get('expires_at', ''))[11:19]}"]  # fmt: skip


def _approval(p: dict[str, Any]) -> list[str]:
    if "approver" in p:
        verdict = "approved" if p.get("approved") else "denied"
        return [f"{verdict} by {p.get('approver')}" + (f": {p['comment']}" if p.get("comment")
                                                        else "")]  # fmt: skip
    return [f"requested by {p.get('requested_by')}, expires {str(p.get('expires_at'))[11:19]}"]


def _action(p: dict[str, Any]) -> list[str]:
    out = []
    for c in p.get("calls", []):
        ok = "ok" if c.get("ok") else "FAILED"
        out.append(f"call {c.get('backend')}.{c.get('operation')} ({ok}, "
                   f"{c.get('duration_ms', 0):.0f} ms): {c.get('request')}")  # fmt: skip
        out.append(f"   -> {c.get('response')}")
    if p.get("undoes"):
        out.append(f"reverses action {p['undoes']}")
    return out


def _verification(p: dict[str, Any]) -> list[str]:
    obs, base = p.get("observed", {}), p.get("baseline", {})
    cells = [f"{k} {obs[k]:.4g} (baseline {base.get(k, float('nan')):.4g})" for k in sorted(obs)]
    return [f"window {p.get('window_s', 0):.0f}s: " + "; ".join(cells[:6])]


def _escalation(p: dict[str, Any]) -> list[str]:
    tried = ", ".join(p.get("tried", [])) or "nothing"
    return [f"handed to a human ({p.get('reason_code')}); tried: {tried}"]


_DETAILS: dict[str, _Detail] = {
    "anomaly": _anomaly,
    "incident": _incident,
    "policy": _policy,
    "command": _command,
    "approval": _approval,
    "action": _action,
    "verification": _verification,
    "escalation": _escalation,
}
