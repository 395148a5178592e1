"""``setpoint keys generate PATH``: an Ed25519 key pair for signing commands (the decide stage
keeps PATH, the actuator gets only PATH.pub through ``SETPOINT_VERIFY_KEY_PATH``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from setpoint.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="command-signing keys")
    s = p.add_subparsers(dest="keys_command", required=True)
    g = s.add_parser("generate", help="write an Ed25519 private key (0600) and PATH.pub")
    g.add_argument("path", type=Path)
    g.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    from setpoint.streams.loading import generate_keypair

    if args.path.exists():
        msg = f"{args.path} exists; not overwriting a signing key"
        raise ConfigError(msg, context={"path": str(args.path)})
    pub = generate_keypair(args.path)
    print(f"private key: {args.path} (SETPOINT_SIGNING_KEY_PATH, the workers)")
    print(f"public key:  {pub} (SETPOINT_VERIFY_KEY_PATH, the actuator)")
    return 0
