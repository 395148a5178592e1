"""``setpoint rollback ACTION_ID``: the human's brake. Undoes any reversible action by hand: a
signed ``UndoCommand`` (agent ``human:<you>``) goes to the actuator, which checks it like any
other command (signature, expiry, epoch, policy: undo is always allowed) and restores what the
action captured before it ran. The command and its result are recorded in the ledger."""

from __future__ import annotations

import argparse
import getpass
import time
import uuid
from typing import Any

from setpoint.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser("rollback", help="undo a reversible action by hand (the human's brake)")
    p.add_argument("action_id", help="the action (command id) to undo")
    p.add_argument("--as", dest="user", default=None, help="default: your login name")
    p.add_argument("--reason", default="rolled back by hand")
    p.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for the actuator's answer (0: do not wait)",
    )
    p.set_defaults(func=_rollback)


def _rollback(args: argparse.Namespace) -> int:
    from setpoint.clock import to_datetime
    from setpoint.policy import LiveState, PolicyEnvelope, Proposal, sign
    from setpoint.schemas import ActionStatus, UndoCommand, UndoParams, Verb
    from setpoint.schemas.verbs import spec
    from setpoint.settings import Settings
    from setpoint.streams import actions
    from setpoint.streams.loading import load_policy, signing_key

    settings = Settings()
    found = actions.results(settings)
    done = next(
        (r for r in found if r.action_id == args.action_id and r.status == ActionStatus.EXECUTED),
        None,
    )
    if done is None:
        raise InputError(f"no executed action {args.action_id} on the action-results topic")
    if any(r.undoes == args.action_id and r.status == ActionStatus.UNDONE for r in found):
        raise InputError(f"{args.action_id} was already undone")
    if not spec(done.verb).reversible:
        raise InputError(f"{done.verb} cannot be undone: {spec(done.verb).inverse}")
    agent = f"human:{args.user or getpass.getuser()}"
    now = max(time.time(), actions.latest_event_time(settings))
    envelope = PolicyEnvelope(load_policy(settings))
    proposal = Proposal(Verb.UNDO, done.target, done.domain, done.incident_id, agent)
    ttl = envelope.policy.file.limits.command_ttl_s
    cmd = UndoCommand(
        command_id=f"cmd-{uuid.uuid4().hex[:20]}",
        incident_id=done.incident_id,
        agent=agent,
        target=done.target,
        domain=done.domain,
        idempotency_key=f"{done.incident_id}:undo:{done.action_id}:{agent}:{uuid.uuid4().hex[:8]}",
        decision=envelope.evaluate(proposal, LiveState(), now),
        issued_at=to_datetime(now),
        expires_at=to_datetime(now + ttl),
        params=UndoParams(action_id=done.action_id, reason=args.reason),
    )
    actions.publish(settings, sign(cmd, signing_key(settings)))
    print(f"published {cmd.command_id}: undo {done.verb} on {done.target} as {agent}")
    if args.wait <= 0:
        return 0
    res = actions.wait_result(settings, cmd.command_id, args.wait)
    if res is None:
        print(f"no answer from the actuator within {args.wait:g}s")
        return 1
    print(f"{res.status}: {res.reason}")
    return 0 if res.status == ActionStatus.UNDONE else 1
