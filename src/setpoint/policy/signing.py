"""Command signatures: the decide stage signs, the actuator verifies, over the command's canonical
JSON without its signature field.

Two schemes, chosen by the key's type:

* **Ed25519** (``cryptography``), the default for a new install: the decide stage holds the
  private key, the actuator (and any auditor re-checking commands in the ledger) only the public
  key, so nothing that verifies can also sign. A compromised actuator host, or a copy of the
  verification key, cannot mint commands.
* **HMAC-SHA256** with a shared secret (``bytes``): one secret signs and verifies; kept for
  existing deployments and tests.

The verifier's key type fixes the scheme: a command cannot choose how it is checked.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from setpoint.errors import SignatureError
from setpoint.schemas import AnyCommand

SigningKey = bytes | Ed25519PrivateKey
"""What the decide stage signs with."""
VerifyKey = bytes | Ed25519PrivateKey | Ed25519PublicKey
"""What the actuator verifies with (a private key verifies with its public half)."""


def _message(cmd: AnyCommand) -> bytes:
    return cmd.model_dump_json(exclude={"signature"}).encode()


def sign(cmd: AnyCommand, key: SigningKey) -> AnyCommand:
    """``cmd`` with its signature set.

    Examples
    --------
    >>> from setpoint.schemas import RestartCommand, PolicyDecision
    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> d = PolicyDecision(outcome="allow", policy_hash="p", ts=t)
    >>> c = RestartCommand(command_id="c", incident_id="i", agent="a", target="api",
    ...                    idempotency_key="k", decision=d, issued_at=t, expires_at=t)
    >>> verify(sign(c, b"secret"), b"secret")
    >>> verify(sign(c, b"secret").model_copy(update={"target": "db"}), b"secret")
    Traceback (most recent call last):
    ...
    setpoint.errors.SignatureError: command c: signature does not match its content
    >>> private = Ed25519PrivateKey.generate()
    >>> verify(sign(c, private), private.public_key())
    >>> verify(sign(c, Ed25519PrivateKey.generate()), private.public_key())
    Traceback (most recent call last):
    ...
    setpoint.errors.SignatureError: command c: signature does not match its content
    """
    if isinstance(key, Ed25519PrivateKey):
        sig = key.sign(_message(cmd)).hex()
    else:
        sig = hmac.new(key, _message(cmd), hashlib.sha256).hexdigest()
    return cmd.model_copy(update={"signature": sig})


def verify(cmd: AnyCommand, key: VerifyKey) -> None:
    """Raise ``SignatureError`` unless ``cmd`` was signed with ``key`` and not changed since."""
    context = {"command_id": cmd.command_id}
    if not cmd.signature:
        msg = f"command {cmd.command_id}: unsigned"
        raise SignatureError(msg, context=context)
    if isinstance(key, bytes):
        expected = hmac.new(key, _message(cmd), hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, cmd.signature)
    else:
        public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
        ok = _ed25519_ok(public, cmd)
    if not ok:
        msg = f"command {cmd.command_id}: signature does not match its content"
        raise SignatureError(msg, context=context)


def _ed25519_ok(public: Ed25519PublicKey, cmd: AnyCommand) -> bool:
    try:
        public.verify(bytes.fromhex(cmd.signature), _message(cmd))
    except (InvalidSignature, ValueError):
        return False
    return True
