"""The kill switch: ``setpoint freeze``, ``setpoint unfreeze``, ``setpoint revoke --agent A
[--verb V] [--scope S]``, ``setpoint restore ...`` and ``setpoint control`` (what is in force).

Each publishes a control event with the next epoch; the actuator checks it on every command, so
what was queued or in flight before it is refused (or rolled back), not only what comes next.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from setpoint.cli.ledger_cmd import format_table
from setpoint.schemas import ControlAction
from setpoint.settings import Settings


def register(sub: Any) -> None:
    f = sub.add_parser("freeze", help="stop every action now (queued ones included)")
    f.add_argument("--reason", default="")
    f.set_defaults(func=_publish, action=ControlAction.FREEZE)
    u = sub.add_parser("unfreeze", help="end a freeze (what was queued before it stays refused)")
    u.add_argument("--reason", default="")
    u.set_defaults(func=_publish, action=ControlAction.UNFREEZE)
    for name, action, text in (
        ("revoke", ControlAction.REVOKE, "pull an agent's authority (in-flight actions stop)"),
        ("restore", ControlAction.RESTORE, "give back authority revoked with the same scope"),
    ):
        r = sub.add_parser(name, help=text)
        r.add_argument("--agent", required=True, help="an agent id, a glob, or '*'")
        r.add_argument("--verb", default="*")
        r.add_argument("--scope", default="*", help="a service (glob), 'tier:N' or '*'")
        r.add_argument("--reason", default="")
        r.set_defaults(func=_publish, action=action)
    c = sub.add_parser("control", help="show the kill switch: epoch, freeze, revocations")
    c.set_defaults(func=_show)


def _publish(args: argparse.Namespace) -> int:
    from setpoint.streams import control

    who = {k: getattr(args, k) for k in ("agent", "verb", "scope") if hasattr(args, k)}
    ev = control.publish(Settings(), args.action, getpass.getuser(), reason=args.reason, **who)
    subject = f" agent={ev.agent} verb={ev.verb} scope={ev.scope}" if who else ""
    print(f"{ev.action}{subject} at epoch {ev.epoch} ({ev.control_id}), recorded in the ledger")
    if args.action in (ControlAction.FREEZE, ControlAction.REVOKE):
        print("commands issued before it are refused by the actuator; one executing is rolled back")
    return 0


def _show(_args: argparse.Namespace) -> int:
    from setpoint.streams import control

    state = control.current(Settings())
    print(f"epoch {state.epoch}; {'FROZEN' if state.frozen else 'not frozen'}"
          f" (last freeze at epoch {state.freeze_epoch})")  # fmt: skip
    rows = [[a, v, s, str(e)] for a, v, s, e in state.active()]
    print(format_table(["agent", "verb", "scope", "revoked at epoch"], rows))
    return 0
