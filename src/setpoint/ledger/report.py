"""``setpoint report``: the outcome metrics as text, and a self-contained HTML report with plots
(matplotlib, rendered to PNG and embedded as data URIs: one file, no network)."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from setpoint.ledger.metrics import METRIC_COLUMNS, Outcomes, Timeline

_COLORS = {"onset": "#888888", "detected": "#e69f00", "diagnosed": "#cc79a7",
           "rolled back": "#9467bd", "verified recovered": "#009e73",
           "verified NOT recovered": "#d55e00", "escalated": "#d62728",
           "recovered": "#56b4e9"}  # fmt: skip
_OUTCOME_COLORS = {"resolved": "#009e73", "self_recovered": "#56b4e9", "escalated": "#d62728",
                   "open": "#bbbbbb"}  # fmt: skip


def png(fig: Figure) -> str:
    """A figure as a ``data:`` URI (and the figure closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def timeline_figure(tl: Timeline) -> Figure:
    """The signal with its baseline, the verification's observations, and a line per moment."""
    fig, ax = plt.subplots(figsize=(9, 2.8))
    if tl.points:
        xs, ys = zip(*tl.points, strict=True)
        ax.plot(xs, ys, "o-", color="#333333", ms=3, lw=1, label=f"{tl.service} {tl.signal}")
        bx, by = zip(*tl.baseline, strict=True)
        ax.plot(bx, by, "--", color="#999999", lw=1, label="baseline")
    if tl.observed:
        ox, oy = zip(*tl.observed, strict=True)
        ax.plot(ox, oy, "D", color="#009e73", ms=6, label="observed by verification")
    for when, whats in _grouped(tl.marks):
        color = next((c for w in reversed(whats) for k, c in _COLORS.items()
                      if w.startswith(k)), "#0072b2")  # fmt: skip
        x = mdates.date2num(when)  # type: ignore[no-untyped-call]
        ax.axvline(x, color=color, lw=1.4, alpha=0.85,
                   label=f"{when:%H:%M:%S} {', '.join(whats)}")  # fmt: skip
    ax.set_title(f"{tl.incident_id} - {tl.service} - {tl.outcome}", fontsize=9, loc="left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if not (tl.points or tl.observed):
        ax.text(0.5, 0.5, "no signal values in the ledger for this incident", ha="center",
                transform=ax.transAxes, fontsize=8, color="#666666")  # fmt: skip
    return fig


def _grouped(marks: list[tuple[datetime, str]]) -> list[tuple[datetime, list[str]]]:
    """Marks at the same instant as one line (a demo does several things in one tick).

    Examples
    --------
    >>> t = datetime(2026, 1, 1)
    >>> _grouped([(t, "onset"), (t, "detected"), (t.replace(minute=5), "recovered")])[0][1]
    ['onset', 'detected']
    """
    out: list[tuple[datetime, list[str]]] = []
    for when, what in sorted(marks, key=lambda m: m[0]):
        if out and out[-1][0] == when:
            out[-1][1].append(what)
        else:
            out.append((when, [what]))
    return out


def trends_figure(periods: list[dict[str, Any]], label: str) -> Figure:
    """Incidents per period by outcome, and the rates and MTTR over the same periods."""
    keys = [p["key"] for p in periods]
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(13, 3.2))
    bottom = [0.0] * len(keys)
    for outcome, col in (("resolved", "resolved"), ("self_recovered", "self_recovered"),
                         ("escalated", "escalated")):  # fmt: skip
        vals = [float(p[col]) for p in periods]
        a1.bar(keys, vals, bottom=bottom, color=_OUTCOME_COLORS[outcome], label=outcome)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    a1.set_title(f"incidents per {label}, by outcome", fontsize=9)
    a1.legend(fontsize=7)
    for col in ("auto_resolution_rate", "escalation_rate", "rollback_rate", "false_action_rate"):
        a2.plot(keys, [p[col] for p in periods], "o-", label=col.replace("_", " "), ms=3)
    a2.set_ylim(0, 1.05)
    a2.set_title(f"rates per {label}", fontsize=9)
    a2.legend(fontsize=7)
    for col in ("mttd_s", "mean_act_s", "mean_recover_s", "mttr_s"):
        a3.plot(keys, [(p[col] or 0) / 60 for p in periods], "o-", label=col, ms=3)
    a3.set_title(f"minutes, per {label}", fontsize=9)
    a3.legend(fontsize=7)
    for a in (a1, a2, a3):
        a.tick_params(labelsize=7, axis="x", rotation=45)
    return fig


def table_html(rows: list[dict[str, Any]], first: str) -> str:
    cols = [first, *METRIC_COLUMNS]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c) if c != first else r['key'] or first))}"
                         "</td>" for c in cols) + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}
td:first-child{text-align:left}img{max-width:100%}.note{color:#555;font-size:12px}"""


def render_html(
    out: Outcomes,
    trend: tuple[str, list[dict[str, Any]]],
    tls: list[Timeline],
    toil_minutes: float,
    source: str,
) -> str:
    """The whole report as one HTML document."""
    parts = [f"<!doctype html><meta charset=utf-8><title>Setpoint outcomes</title>"
             f"<style>{_CSS}</style><h1>Setpoint outcomes</h1>"
             f"<p class=note>From the ledger {html.escape(source)}, "
             f"{datetime.now():%Y-%m-%d %H:%M}. Pages avoided: incidents Setpoint resolved with "
             "no human in the loop (no approval, no escalation), each assumed to have paged one "
             f"on-call engineer; toil returned: {toil_minutes:g} minutes per page avoided."
             "</p>"]  # fmt: skip
    parts.append("<h2>Total</h2>" + table_html(out.rows["total"], "all"))
    unit, periods = trend
    if periods:
        parts.append(f"<h2>Trends</h2><img src='{png(trends_figure(periods, unit))}'>")
    for dim in ("week", "service", "verb"):
        parts.append(f"<h2>Per {dim}</h2>" + table_html(out.rows[dim], dim))
    parts.append("<h2>Incidents</h2><p class=note>The signal plotted is what the ledger "
                 "recorded: the value and baseline of the incident's first anomalous signal in "
                 "each anomaly entry, and the value each verification observed; the raw "
                 "telemetry series is not in the ledger.</p>")  # fmt: skip
    parts += [f"<img src='{png(timeline_figure(tl))}'>" for tl in tls]
    return "\n".join(parts)
