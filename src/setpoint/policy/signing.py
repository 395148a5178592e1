"""Command signatures: the decide stage signs, the actuator verifies. HMAC-SHA256 over the
command's canonical JSON without its signature field."""

from __future__ import annotations

import hashlib
import hmac

from setpoint.errors import SignatureError
from setpoint.schemas import AnyCommand


def _message(cmd: AnyCommand) -> bytes:
    return cmd.model_dump_json(exclude={"signature"}).encode()


def sign(cmd: AnyCommand, key: bytes) -> AnyCommand:
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
    """
    mac = hmac.new(key, _message(cmd), hashlib.sha256).hexdigest()
    return cmd.model_copy(update={"signature": mac})


def verify(cmd: AnyCommand, key: bytes) -> None:
    """Raise ``SignatureError`` unless ``cmd`` was signed with ``key`` and not changed since."""
    if not cmd.signature:
        msg = f"command {cmd.command_id}: unsigned"
        raise SignatureError(msg, context={"command_id": cmd.command_id})
    expected = hmac.new(key, _message(cmd), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, cmd.signature):
        msg = f"command {cmd.command_id}: signature does not match its content"
        raise SignatureError(msg, context={"command_id": cmd.command_id})
