"""``setpoint approvals list|show|approve|deny``: the human side of the approval gate."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from setpoint.cli.ledger_cmd import format_table
from setpoint.errors import InputError
from setpoint.settings import Settings
from setpoint.streams import approvals


def register(sub: Any) -> None:
    p = sub.add_parser("approvals", help="list, show, approve or deny gated commands")
    s = p.add_subparsers(dest="approvals_command", required=True)
    s.add_parser("list", help="requests waiting for a human").set_defaults(func=_list)
    sh = s.add_parser("show", help="one request, with its diagnosis")
    sh.add_argument("id")
    sh.set_defaults(func=_show)
    for verb, approved in (("approve", True), ("deny", False)):
        a = s.add_parser(verb, help=f"{verb} a request (recorded with your identity)")
        a.add_argument("id")
        a.add_argument("--as", dest="approver", default=None, help="default: your login name")
        a.add_argument("--comment", default="")
        a.set_defaults(func=_decide, approved=approved)


def _list(_args: argparse.Namespace) -> int:
    reqs = approvals.pending(Settings())
    rows = [[r.approval_id, r.incident_id, f"{r.command.verb} on {r.command.target}",
             f"{r.expires_at:%H:%M:%S}", r.summary] for r in reqs]  # fmt: skip
    print(format_table(["approval", "incident", "command", "expires", "why"], rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    req = approvals.find(Settings(), args.id)
    if req is None:
        msg = f"no approval request {args.id}"
        raise InputError(msg)
    print(req.model_dump_json(indent=2))
    return 0


def _decide(args: argparse.Namespace) -> int:
    settings = Settings()
    req = approvals.find(settings, args.id)
    if req is None:
        msg = f"no approval request {args.id}"
        raise InputError(msg)
    who = args.approver or getpass.getuser()
    d = approvals.decide(settings, req, args.approved, who, args.comment)
    print(f"{'approved' if d.approved else 'denied'} {d.approval_id} as {d.approver}")
    return 0
