"""``setpoint report``: the outcome metrics in the terminal, and an HTML report with plots."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from setpoint.cli.ledger_cmd import format_table, open_store
from setpoint.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="outcome metrics (MTTR, rates, pages, toil) and an HTML "
                       "report with per-incident timelines and trends")  # fmt: skip
    p.add_argument("--html", type=Path, default=Path("setpoint-report.html"),
                   help="where to write the report (default: %(default)s)")  # fmt: skip
    p.add_argument("--incidents", type=int, default=12, help="incident timelines to plot")
    p.add_argument("--toil-minutes", type=float, default=45.0,
                   help="on-call minutes a page costs (the toil assumption)")  # fmt: skip
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from setpoint.ledger import metrics, report

    settings = Settings()
    store = open_store(settings)
    out = metrics.Outcomes.read(store, args.toil_minutes)
    cols = ["key", "incidents", "auto_resolution_rate", "escalation_rate", "rollback_rate",
            "false_action_rate", "mttd_s", "mean_act_s", "mean_recover_s", "mttr_s",
            "pages_avoided", "toil_hours_returned"]  # fmt: skip
    for dim in ("total", "week", "service", "verb"):
        print(f"\n{dim}")
        print(format_table(cols, [[_fmt(r.get(c)) for c in cols] for r in out.rows[dim]]))
    facts = metrics.incidents(store, args.incidents)
    doc = report.render_html(out, metrics.trend(store), metrics.timelines(store, facts),
                             args.toil_minutes, settings.resolved_ledger_dsn())  # fmt: skip
    args.html.write_text(doc)
    print(f"\nwrote {args.html} ({len(doc) // 1024} KiB, {len(facts)} incident timelines)")
    return 0


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
