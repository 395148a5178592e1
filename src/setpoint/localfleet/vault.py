"""The local fleet's secret store: each service's credential (what it presents to the services it
calls) and the store its callees check a presented credential against.

Files: ``secrets/store.json`` (per service: credential id, SHA-256 of the secret, expiry,
revoked; what callees check), ``secrets/burned.json`` (ids of replaced credentials) and
``services/<name>/credential.json`` (id, secret, expiry: what the service loads).
A rotation issues a new credential and burns the old one (it is revoked in the store: that is
why ``rotate_credential`` cannot be undone).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Credential:
    id: str
    expires_at: float
    revoked: bool = False


def _write_json(path: Path, data: Any, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    tmp.replace(path)


class Vault:
    """Issues, revokes and reads credentials under ``root`` (the fleet's state directory).

    Examples
    --------
    >>> import tempfile
    >>> v = Vault(Path(tempfile.mkdtemp()))
    >>> first = v.issue("api", valid_s=60.0)
    >>> second = v.issue("api", valid_s=60.0)
    >>> v.get("api").id == second.id != first.id, second.id in v.burned()
    (True, False)
    >>> first.id in v.burned()
    True
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store_path = root / "secrets" / "store.json"
        self.burned_path = root / "secrets" / "burned.json"
        self._lock = threading.Lock()
        if not self.store_path.exists():
            _write_json(self.store_path, {}, private=True)
            _write_json(self.burned_path, [], private=True)

    def _read(self) -> dict[str, Any]:
        return {
            "services": json.loads(self.store_path.read_text()),
            "burned": json.loads(self.burned_path.read_text()),
        }

    def _save(self, data: dict[str, Any]) -> None:
        _write_json(self.burned_path, data["burned"], private=True)
        _write_json(self.store_path, data["services"], private=True)

    def issue(self, service: str, valid_s: float, now: float | None = None) -> Credential:
        """A new credential for ``service``; the one it replaces is revoked (burned)."""
        t = time.time() if now is None else now
        ident = f"{service}-{_random.token_hex(4)}"
        secret = _random.token_urlsafe(24)
        with self._lock:
            data = self._read()
            old = data["services"].get(service)
            if old is not None:
                data["burned"].append(old["id"])
            entry = {
                "id": ident,
                "sha256": hashlib.sha256(secret.encode()).hexdigest(),
                "expires_at": t + valid_s,
                "revoked": False,
            }
            data["services"][service] = entry
            cred = {"id": ident, "secret": secret, "expires_at": t + valid_s}
            _write_json(self.root / "services" / service / "credential.json", cred, private=True)
            self._save(data)
        return Credential(ident, t + valid_s)

    def update(self, service: str, **fields: Any) -> Credential:
        """Change the store's entry of ``service`` (``revoked``, ``expires_at``): a fault."""
        with self._lock:
            data = self._read()
            data["services"][service].update(fields)
            self._save(data)
        got = self.get(service)
        assert got is not None
        return got

    def get(self, service: str) -> Credential | None:
        e = self._read()["services"].get(service)
        if e is None:
            return None
        return Credential(e["id"], float(e["expires_at"]), bool(e["revoked"]))

    def burned(self) -> list[str]:
        return list(self._read()["burned"])
