"""``setpoint ledger query|show|verify|key``: read and audit the ledger."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from setpoint.ledger import LedgerStore, verify_store
from setpoint.ledger.checkpoint import signer_from, verifier_from
from setpoint.ledger.story import render
from setpoint.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="query, show and verify the audit ledger")
    s = p.add_subparsers(dest="ledger_command", required=True)
    q = s.add_parser("query", help="run a SQL query on the ledger (database 'setpoint')")
    q.add_argument("sql")
    q.add_argument("--json", action="store_true", help="one JSON object per row")
    q.set_defaults(func=_query)
    sh = s.add_parser("show", help="an incident's whole story, in order")
    sh.add_argument("id", help="an incident, action, approval, anomaly or event id, or a unique "
                    "suffix of one")  # fmt: skip
    sh.add_argument("--all", action="store_true", help="do not fold repeated updates")
    sh.add_argument("--width", type=int, default=160)
    sh.set_defaults(func=_show)
    v = s.add_parser("verify", help="recompute every hash chain and check every signed "
                     "checkpoint; exit 1 on any problem")  # fmt: skip
    v.add_argument("--since", type=_when, default=None, metavar="TIME",
                   help="start each chain at its last checkpoint signed at or before TIME "
                   "(ISO 8601, UTC if no zone)")  # fmt: skip
    v.set_defaults(func=_verify)
    k = s.add_parser("key", help="print the public key that verifies this sink's checkpoints")
    k.set_defaults(func=_key)


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"not an ISO 8601 time: {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def open_store(settings: Settings) -> LedgerStore:
    """The ledger of ``settings``, migrated."""
    store = LedgerStore(settings.resolved_ledger_dsn(), settings.ledger_database,
                        settings.ledger_retention_days)  # fmt: skip
    store.migrate()
    return store


def _query(args: argparse.Namespace) -> int:
    res = open_store(Settings()).query(args.sql)
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
    store = open_store(Settings())
    found = store.resolve(args.id)
    if len(found) > 1:
        print(f"{args.id} matches {len(found)} incidents; give more of the id:")
        print("\n".join(f"  {i}" for i in found))
        return 1
    rows = store.story(args.id)
    if not rows:
        print(f"nothing in the ledger for {args.id}")
        return 1
    print("\n".join(render(rows, width=args.width, fold=not args.all)))
    return 0


def _verify(args: argparse.Namespace) -> int:
    settings = Settings()
    verifier = verifier_from(settings)
    report = verify_store(open_store(settings), verifier, args.since)
    for c in report.chains:
        start = report.anchors.get(c.chain, 0)
        print(c.summary() + (f", verified from the checkpoint of seq {start}" if start else ""))
    if verifier is None:
        print("note: no verify key (SETPOINT_LEDGER_VERIFY_KEY): checkpoint signatures unchecked")
    for p in report.problems:
        print(p)
    print("ledger verifies clean" if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _key(_args: argparse.Namespace) -> int:
    settings = Settings()
    signer = signer_from(settings)
    pub = signer.public_key.hex()
    print(pub)
    print(f"# key id {signer.key_id}; auditors set SETPOINT_LEDGER_VERIFY_KEY={pub}")
    return 0
