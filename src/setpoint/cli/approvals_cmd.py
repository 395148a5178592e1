"""``setpoint approvals list|show|approve|deny|serve``: the human side of the approval gate."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from setpoint.cli.ledger_cmd import format_table
from setpoint.errors import InputError
from setpoint.settings import Settings
from setpoint.streams.approvals import KafkaApprovals, find_in, listing, respond


def register(sub: Any) -> None:
    p = sub.add_parser("approvals", help="list, show, approve or deny gated commands")
    s = p.add_subparsers(dest="approvals_command", required=True)
    ls = s.add_parser("list", help="requests waiting for a human")
    ls.add_argument("--all", action="store_true", help="answered and timed-out ones too")
    ls.set_defaults(func=_list)
    sh = s.add_parser("show", help="one request, with its diagnosis and its answer")
    sh.add_argument("id")
    sh.set_defaults(func=_show)
    for verb, approved in (("approve", True), ("deny", False)):
        a = s.add_parser(verb, help=f"{verb} a request (recorded with your identity)")
        a.add_argument("id")
        a.add_argument("--as", dest="approver", default=None, help="default: your login name")
        a.add_argument("--comment", default="")
        a.set_defaults(func=_decide, approved=approved)
    sv = s.add_parser("serve", help="the same over HTTP, token-authenticated")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=18700)
    sv.set_defaults(func=_serve)


def _list(args: argparse.Namespace) -> int:
    rows = listing(KafkaApprovals(Settings()), every=args.all)
    table = [[r.approval_id, r.incident_id, f"{r.command.verb} on {r.command.target}", str(st),
              ans.approver if ans else "", f"{r.expires_at:%H:%M:%S}", r.summary]
             for r, st, ans in rows]  # fmt: skip
    header = ["approval", "incident", "command", "status", "by", "expires", "why"]
    print(format_table(header, table))
    return 0


def _show(args: argparse.Namespace) -> int:
    store = KafkaApprovals(Settings())
    row = next((r for r in listing(store, every=True) if r[0].approval_id == args.id), None)
    if row is None:
        msg = f"no approval request {args.id}"
        raise InputError(msg)
    req, st, ans = row
    out = {"status": str(st), "answer": ans.model_dump(mode="json") if ans else None,
           "request": req.model_dump(mode="json")}  # fmt: skip
    print(json.dumps(out, indent=2))
    return 0


def _decide(args: argparse.Namespace) -> int:
    store = KafkaApprovals(Settings())
    req = find_in(store, args.id)
    if req is None:
        msg = f"no approval request {args.id}"
        raise InputError(msg)
    who = args.approver or getpass.getuser()
    d = respond(store, req, args.approved, who, args.comment)
    print(f"{'approved' if d.approved else 'denied'} {d.approval_id} as {d.approver}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from setpoint.streams.approvals_http import ApprovalsServer, Tokens

    settings = Settings()
    shared = settings.approvals_token.get_secret_value() if settings.approvals_token else None
    path = settings.approvals_tokens_path
    tokens = Tokens.from_file(path, shared) if path else Tokens(shared)
    server = ApprovalsServer(KafkaApprovals(settings), tokens, args.host, args.port)
    print(f"approvals: serving on {server.url} (GET /approvals, POST /approvals/ID/approve|deny)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0
