"""``setpoint policy check PATH`` and ``setpoint policy explain COMMAND_JSON``: the policy in
words, its lint, and why it allows or blocks a given command."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from setpoint.errors import InputError
from setpoint.policy import Inventory, PolicyEnvelope, Proposal
from setpoint.policy.explain import describe, explain, lint
from setpoint.schemas import AnyCommand, Command, TrustMode
from setpoint.settings import Settings

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(Command)


def register(sub: Any) -> None:
    p = sub.add_parser("policy", help="check a policy file, or explain a decision")
    s = p.add_subparsers(dest="policy_command", required=True)
    c = s.add_parser("check", help="validate a policy file and explain each rule in words")
    c.add_argument("path", type=Path)
    c.add_argument("--topology", type=Path, default=None, help="default: the setting")
    c.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    c.set_defaults(func=_check)
    e = s.add_parser("explain", help="which rules allow or block a command, and why")
    e.add_argument("command", help="a command as JSON: a file, '-' for stdin, or inline {...}")
    e.add_argument("--policy", type=Path, default=None, help="default: the setting")
    e.add_argument("--topology", type=Path, default=None, help="default: the setting")
    e.add_argument("--at", default=None, help="when (ISO 8601); default: issued_at, else now")
    e.add_argument(
        "--trust",
        choices=[str(m) for m in TrustMode],
        default=None,
        help="the agent's trust mode to assume (default: none, as if trust is off)",
    )
    e.set_defaults(func=_explain)  # fmt: skip


def _inventory(settings: Settings, path: Path | None) -> Inventory:
    from setpoint.streams.loading import inventory, load_topology

    topo = path or settings.topology_path
    if path is None and not topo.exists():
        return Inventory()
    return inventory(load_topology(settings, topo))


def _check(args: argparse.Namespace) -> int:
    from setpoint.streams.loading import load_policy

    settings = Settings()
    policy = load_policy(settings, args.path)
    inv = _inventory(settings, args.topology)
    for line in describe(policy):
        print(line)
    warnings = lint(policy, inv)
    for w in warnings:
        print(f"warning: {w}")
    print(f"{args.path}: ok, {len(policy.file.rules)} rule(s), {len(warnings)} warning(s)")
    return 1 if warnings and args.strict else 0


def _explain(args: argparse.Namespace) -> int:
    from setpoint.streams.loading import load_policy

    settings = Settings()
    policy = load_policy(settings, args.policy)
    env = PolicyEnvelope(policy, _inventory(settings, args.topology))
    proposal, issued = _proposal(_read(args.command), args.trust)
    now = _when(args.at) if args.at else (issued if issued is not None else time.time())
    for line in explain(env, proposal, now).lines:
        print(line)
    return 0


def _read(arg: str) -> Any:
    raw = sys.stdin.buffer.read() if arg == "-" else arg.encode()
    if arg != "-" and not arg.lstrip().startswith("{"):
        try:
            raw = Path(arg).read_bytes()
        except OSError as exc:
            msg = f"cannot read {arg}: {exc.strerror}"
            raise InputError(msg) from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc}"
        raise InputError(msg) from exc


def _proposal(data: Any, trust: str | None) -> tuple[Proposal, float | None]:
    """A full command (as on the commands topic), or just ``{verb, target, ...}``."""
    if not isinstance(data, dict) or "verb" not in data or "target" not in data:
        msg = "give a command as a JSON object with at least 'verb' and 'target'"
        raise InputError(msg)
    mode = TrustMode(trust) if trust else None
    if "command_id" in data:
        try:
            cmd = _COMMAND.validate_python(data)
        except ValidationError as exc:
            msg = f"not a valid command: {exc.errors(include_url=False)[0]['msg']}"
            raise InputError(msg) from exc
        return Proposal.of(cmd, mode), cmd.issued_at.timestamp()
    p = Proposal(
        str(data["verb"]), str(data["target"]), str(data.get("domain", "default")),
        str(data.get("incident_id", "explain")), str(data.get("agent", "setpoint.decide")),
        int(data.get("attempt", 1)), data.get("approved_by"), dict(data.get("params") or {}),
        int(data.get("instances") or 0), mode,
    )  # fmt: skip
    return p, None


def _when(text: str) -> float:
    try:
        t = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"--at wants an ISO 8601 time with a zone, not {text!r}"
        raise InputError(msg) from exc
    if t.tzinfo is None:
        msg = f"--at wants a time zone (e.g. {text}+00:00)"
        raise InputError(msg)
    return t.timestamp()
