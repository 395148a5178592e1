"""The ``setpoint`` command. Each sub-command group lives in its own module of this package and
exposes ``register(subparsers)``; this module only assembles them and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from setpoint.errors import SetpointError

_COMMAND_MODULES = (
    "setpoint.cli.run",
    "setpoint.cli.demo",
    "setpoint.cli.fleet",
    "setpoint.cli.localfleet",
    "setpoint.cli.approvals_cmd",
    "setpoint.cli.rollback",
    "setpoint.cli.detect",
    "setpoint.cli.rca",
    "setpoint.cli.ledger_cmd",
    "setpoint.cli.report_cmd",
    "setpoint.cli.schemas_cmd",
    "setpoint.cli.policy_cmd",
    "setpoint.cli.control_cmd",
    "setpoint.cli.trust_cmd",
    "setpoint.cli.keys_cmd",
    "setpoint.cli.scenarios_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="setpoint",
        description="Self-healing infrastructure: detect, diagnose, decide, act, verify, record.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except SetpointError as exc:
        print(f"setpoint: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("setpoint: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
