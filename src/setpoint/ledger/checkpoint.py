"""Signed checkpoints: every so often the sink signs the head of a chain (its seq, hash, row count
and the time) with an Ed25519 key and records the signature in the chain itself, as the row that
follows the head it signs (``event_type = 'ledger.checkpoint'``).

A hash chain alone shows that rows were changed only to someone who cannot recompute it, and
anyone with write access can. A checkpoint cannot be re-signed without the private key, so a
rewritten chain no longer matches the heads signed before the rewrite. Verification needs only the
public key (``SETPOINT_LEDGER_VERIFY_KEY``), so an auditor never holds the signing key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from setpoint.errors import ConfigError
from setpoint.ledger.chain import ChainHead, canonical_ts
from setpoint.ledger.record import Record
from setpoint.settings import Settings

CHECKPOINT_TYPE = "ledger.checkpoint"
ALGORITHM = "ed25519"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint signs: a chain's head (seq and hash), its row count, and when."""

    chain: str
    seq: int
    head: str
    count: int
    ts: datetime

    def message(self) -> bytes:
        """The exact bytes signed (a fixed layout, independent of JSON formatting)."""
        fields = ["setpoint-ledger-checkpoint/1", self.chain, str(self.seq), self.head]
        fields += [str(self.count), canonical_ts(self.ts)]
        return "\x1f".join(fields).encode()


class CheckpointSigner:
    """Signs checkpoints with an Ed25519 private key (``seed``: its 32 raw bytes)."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = public_bytes(self._key.public_key())
        self.key_id = key_id(self.public_key)

    def record(self, head: ChainHead, ts: datetime) -> Record:
        """The checkpoint row that follows ``head`` in its chain.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> s = CheckpointSigner(bytes(32))
        >>> r = s.record(ChainHead("p0", 7, "ab" * 32), datetime(2026, 1, 1, tzinfo=UTC))
        >>> r.event_id, r.event_type, CheckpointVerifier(s.public_key).check(r.payload)
        ('ckpt-p0-7', 'ledger.checkpoint', None)
        """
        cp = Checkpoint(head.chain, head.seq, head.hash, head.seq, ts)
        payload = {
            "chain": cp.chain,
            "seq": cp.seq,
            "head": cp.head,
            "count": cp.count,
            "ts": canonical_ts(ts),
            "alg": ALGORITHM,
            "key_id": self.key_id,
            "signature": self._key.sign(cp.message()).hex(),
        }
        ident = f"ckpt-{cp.chain}-{cp.seq}"
        return Record(
            event_id=ident,
            incident_id="",
            ts=ts,
            stage="record",
            event_type=CHECKPOINT_TYPE,
            entity_id=ident,
            service="",
            summary=f"checkpoint of {cp.chain} at seq {cp.seq} (head {cp.head[:12]}), "
            f"signed by key {self.key_id}",
            payload=orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
        )


class CheckpointVerifier:
    """Checks checkpoint signatures against a trusted Ed25519 public key (32 raw bytes)."""

    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key
        self.key_id = key_id(public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def check(self, payload_json: str) -> str | None:
        """``None`` if the checkpoint in ``payload_json`` is well signed, else what is wrong."""
        try:
            p: dict[str, Any] = orjson.loads(payload_json)
            cp = Checkpoint(p["chain"], int(p["seq"]), p["head"], int(p["count"]),
                            datetime.fromisoformat(p["ts"]))  # fmt: skip
            sig = bytes.fromhex(p["signature"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return f"checkpoint payload is malformed ({exc})"
        if p.get("key_id") != self.key_id:
            return f"signed by key {p.get('key_id')!r}, not the trusted key {self.key_id}"
        try:
            self._key.verify(sig, cp.message())
        except InvalidSignature:
            return "signature does not match what it signs (the checkpoint was altered)"
        return None


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A short, stable name of a public key (the first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def load_seed(value: str | None, path: Path | None, default_path: Path) -> bytes:
    """The signing key's 32-byte seed: ``value`` (hex), the key file, or a new key file.

    A new key file is created (mode 0600) only at ``default_path`` when neither is given.
    """
    if value:
        return _hex32(value, "SETPOINT_LEDGER_CHECKPOINT_KEY")
    target = path or default_path
    if not target.exists():
        if path is not None:
            msg = f"checkpoint key file {path} does not exist"
            raise ConfigError(msg, context={"path": str(path)})
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
    return _hex32(target.read_text().strip(), str(target))


def _hex32(text: str, where: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        msg = f"{where}: an Ed25519 key is 64 hex digits (32 bytes)"
        raise ConfigError(msg, context={"where": where})
    return raw


def parse_public_key(text: str) -> bytes:
    """A public key given as 64 hex digits (``setpoint ledger key`` prints it)."""
    return _hex32(text, "SETPOINT_LEDGER_VERIFY_KEY")


def signer_from(settings: Settings) -> CheckpointSigner:
    """The sink's signer, from the settings (see ``Settings.ledger_checkpoint_key``)."""
    key = settings.ledger_checkpoint_key
    seed = load_seed(key.get_secret_value() if key else None, settings.ledger_checkpoint_key_path,
                     settings.data_dir / "ledger-checkpoint.key")  # fmt: skip
    return CheckpointSigner(seed)


def verifier_from(settings: Settings) -> CheckpointVerifier | None:
    """The verifier ``ledger verify`` trusts: the configured public key, else the public half of
    the signing key when this machine has it, else ``None`` (signatures cannot be checked)."""
    if settings.ledger_verify_key:
        return CheckpointVerifier(parse_public_key(settings.ledger_verify_key))
    key = settings.ledger_checkpoint_key
    path = settings.ledger_checkpoint_key_path or settings.data_dir / "ledger-checkpoint.key"
    if key is None and not path.exists():
        return None
    return CheckpointVerifier(signer_from(settings).public_key)
