"""Reading the configuration a process needs: the policy, the topology (as the policy's service
inventory) and the command keys. The edge where files are read; the policy package stays pure."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from setpoint.causal import Topology
from setpoint.errors import ConfigError
from setpoint.policy import Inventory, Policy, ServiceInfo
from setpoint.policy.signing import SigningKey, VerifyKey
from setpoint.settings import Settings

log = logging.getLogger("setpoint.streams")
_PEM_PRIVATE = b"-----BEGIN PRIVATE KEY-----"


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        msg = f"cannot read the {what} file {path}: {exc.strerror}"
        raise ConfigError(msg, context={"path": str(path)}) from exc


def load_policy(settings: Settings, path: Path | None = None) -> Policy:
    p = path or settings.policy_path
    return Policy.from_text(read_text(p, "policy"), str(p))


def load_topology(settings: Settings, path: Path | None = None) -> Topology:
    p = path or settings.topology_path
    return Topology.from_text(read_text(p, "topology"), str(p))


def inventory(topology: Topology) -> Inventory:
    """The policy's view of the fleet: tiers, replicas and who calls whom."""
    return Inventory(
        {s.name: ServiceInfo(s.tier, s.replicas, tuple(s.depends_on)) for s in topology.services}
    )


def signing_key(settings: Settings) -> SigningKey:
    """The key the decide stage signs with: the setting (an HMAC secret), the key file (an
    Ed25519 PEM private key, or an HMAC secret in hex), or a new Ed25519 key under data_dir."""
    if settings.signing_key is not None:
        return settings.signing_key.get_secret_value().encode()
    path = settings.signing_key_path or settings.data_dir / "signing.key"
    if not path.exists():
        if settings.signing_key_path is not None:
            msg = f"signing key file {path} does not exist"
            raise ConfigError(msg, context={"path": str(path)})
        generate_keypair(path)
        log.warning("generated a new Ed25519 command-signing key at %s", path)
    raw = path.read_bytes().strip()
    if raw.startswith(_PEM_PRIVATE):
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            msg = f"{path}: only Ed25519 private keys sign commands"
            raise ConfigError(msg, context={"path": str(path)})
        return key
    return raw


def verify_key(settings: Settings) -> VerifyKey:
    """The key the actuator verifies with: ``verify_key_path`` (an Ed25519 PEM public key), else
    the signing key (a shared HMAC secret, or the private key on a single machine)."""
    if settings.verify_key_path is None:
        return signing_key(settings)
    raw = read_text(settings.verify_key_path, "verification key").encode()
    try:
        key = serialization.load_pem_public_key(raw)
    except ValueError as exc:
        msg = f"{settings.verify_key_path}: not a PEM public key"
        raise ConfigError(msg, context={"path": str(settings.verify_key_path)}) from exc
    if not isinstance(key, Ed25519PublicKey):
        msg = f"{settings.verify_key_path}: only Ed25519 public keys verify commands"
        raise ConfigError(msg, context={"path": str(settings.verify_key_path)})
    return key


def generate_keypair(path: Path) -> Path:
    """Write a new Ed25519 private key to ``path`` (mode 0600) and its public key next to it
    (``.pub``); return the public key's path."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    pub = path.with_suffix(".pub")
    pub.write_bytes(public)
    return pub
