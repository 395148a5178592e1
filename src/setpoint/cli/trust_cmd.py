"""``setpoint trust show``: every agent x verb x scope pair, its track record and its mode."""

from __future__ import annotations

import argparse
from typing import Any

from setpoint.cli.ledger_cmd import format_table
from setpoint.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("trust", help="trust scores per agent x verb x scope")
    s = p.add_subparsers(dest="trust_command", required=True)
    sh = s.add_parser("show", help="each pair's record, score and mode (from the trust topic)")
    sh.add_argument("--agent", default=None)
    sh.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    from setpoint.streams.control import trust_records

    recs = [r for r in trust_records(Settings()) if args.agent in (None, r.agent)]
    header = ["agent", "verb", "scope", "mode", "score", "proposed", "agreed", "denied",
              "verified", "failed", "rolled back", "updated", "why"]  # fmt: skip
    rows = [[r.agent, r.verb, r.scope, str(r.mode), f"{r.score:.2f}", f"{r.proposals:.0f}",
             f"{r.agreed:.0f}", f"{r.disagreed:.0f}", f"{r.succeeded:.0f}", f"{r.failed:.0f}",
             f"{r.rolled_back:.0f}", f"{r.updated_at:%Y-%m-%d %H:%M}", r.reason]
            for r in recs]  # fmt: skip
    print(format_table(header, rows, max_width=48))
    if not recs:
        print("(no trust records yet: the decide stage writes one per proposal and outcome)")
    return 0
