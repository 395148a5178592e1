"""What the local fleet reports of a service, read from the real things: the replicas it runs,
the cache entries on disk (and whether their checksums hold), the certificate file the replicas
serve, the secret store. In the intent layer's vocabulary (a ``TargetState`` dict)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from setpoint.localfleet import pki

if TYPE_CHECKING:
    from setpoint.localfleet.fleet import LocalFleet
    from setpoint.localfleet.model import Service


def cache_state(cache: Path) -> tuple[str, int, int]:
    """``(state, entries, corrupt)`` of a cache directory: ``empty``, ``poisoned`` (an entry's
    checksum does not hold) or ``healthy``."""
    entries = corrupt = 0
    for p in cache.iterdir() if cache.exists() else []:
        if not p.is_file() or p.suffix == ".tmp":
            continue
        entries += 1
        try:
            digest, _, value = p.read_text().partition("\n")
        except (OSError, UnicodeDecodeError):
            corrupt += 1
            continue
        if hashlib.sha256(value.encode()).hexdigest() != digest:
            corrupt += 1
    state = "empty" if entries == 0 else ("poisoned" if corrupt else "healthy")
    return state, entries, corrupt


def observe_service(fleet: LocalFleet, s: Service) -> dict[str, Any]:
    home = fleet.state_dir / s.home
    cache = cache_state(home / "cache")[0] if s.spec.cache else None
    cert = pki.cert_info((home / "tls" / "cert.pem").read_bytes())
    cred = fleet.vault.get(s.name)
    return {
        "service": s.name,
        "version": s.version,
        "previous_version": s.previous_version,
        "replicas": len(s.replicas),
        "max_replicas": s.spec.max_replicas,
        "regions": list(s.regions),
        "down_regions": sorted(s.down),
        "traffic": dict(s.traffic),
        "cache": cache,
        "cache_generation": s.cache_generation if s.spec.cache else None,
        "cert_serial": cert.serial,
        "cert_expires_at": cert.not_after,
        "credential_id": cred.id if cred else None,
        "credential_expires_at": cred.expires_at if cred else None,
        "credential_revoked": bool(cred and cred.revoked),
        "instances": [
            {
                "name": r.name,
                "region": r.region,
                "version": r.version,
                "pid": r.pid,
                "started_at": r.started_at,
                "up": r.up and r.region not in s.down,
            }
            for r in s.replicas.values()
        ],
        "busy": False,
    }
