"""``setpoint ledger query|show|verify``: read the audit ledger."""

from __future__ import annotations

import argparse
import json
from typing import Any

from setpoint.ledger import LedgerStore
from setpoint.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="query, show and verify the audit ledger")
    s = p.add_subparsers(dest="ledger_command", required=True)
    q = s.add_parser("query", help="run a SQL query on the ledger (tables in database 'setpoint')")
    q.add_argument("sql")
    q.add_argument("--json", action="store_true", help="one JSON object per row")
    q.set_defaults(func=_query)
    sh = s.add_parser("show", help="an incident's whole story, in order")
    sh.add_argument("id", help="an incident, action, approval or event id")
    sh.set_defaults(func=_show)
    v = s.add_parser("verify", help="recompute every hash chain; exit 1 on any problem")
    v.set_defaults(func=_verify)


def _store() -> LedgerStore:
    st = Settings()
    store = LedgerStore(st.resolved_ledger_dsn(), st.ledger_database, st.ledger_retention_days)
    store.migrate()
    return store


def _query(args: argparse.Namespace) -> int:
    res = _store().query(args.sql)
    if args.json:
        for row in res.rows:
            print(json.dumps(dict(zip(res.columns, row, strict=True)), default=str))
        return 0
    print(format_table(list(res.columns), [[str(c) for c in r] for r in res.rows]))
    return 0


def format_table(header: list[str], rows: list[list[str]], max_width: int = 60) -> str:
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def _show(args: argparse.Namespace) -> int:
    rows = _store().story(args.id)
    if not rows:
        print(f"nothing in the ledger for {args.id}")
        return 1
    t0 = rows[0]["ts"]
    print(f"incident {rows[0]['incident_id'] or '(none)'}: {len(rows)} step(s)")
    for r in rows:
        dt = (r["ts"] - t0).total_seconds()
        print(f"  +{dt:7.1f}s  {r['stage']:<8} {r['event_type']:<24} {r['summary']}")
    return 0


def _verify(_args: argparse.Namespace) -> int:
    problems = _store().verify()
    for p in problems:
        print(p)
    print("ledger verifies clean" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1
