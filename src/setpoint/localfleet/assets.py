"""What a local fleet's services hold besides processes: their cache, their certificate, their
credential. Primitive operations on real files, each recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from setpoint.clock import to_datetime
from setpoint.errors import InputError, PreconditionError
from setpoint.localfleet import pki
from setpoint.localfleet.ops import OpLog

if TYPE_CHECKING:
    from setpoint.localfleet.fleet import LocalFleet

DAY_S = 86400.0


class Assets:
    """The files of ``fleet``'s services (thread-safe: the fleet's lock)."""

    def __init__(self, fleet: LocalFleet) -> None:
        self.fleet = fleet

    def flush_cache(self, name: str, log: OpLog) -> int:
        """Remove every entry of ``name``'s cache; return how many there were."""
        with self.fleet.lock:
            s = self.fleet.service(name)
            if not s.spec.cache:
                raise PreconditionError(f"{name} has no cache")
            cache = self.fleet.state_dir / s.home / "cache"
            entries = sorted(p for p in cache.iterdir() if p.is_file())
            with log.op("unlink", f"rm {cache}/* ({len(entries)} entries)") as out:
                for p in entries:
                    p.unlink(missing_ok=True)
                out.append(f"removed {len(entries)}")
            s.cache_generation += 1
            return len(entries)

    def issue_certificate(
        self, name: str, valid_s: float, log: OpLog, not_before: float | None = None
    ) -> pki.CertInfo:
        """Issue and install a new certificate for ``name`` (its replicas load it on SIGHUP)."""
        with self.fleet.lock:
            s = self.fleet.service(name)
            now = self.fleet.clock()
            start = now - 60.0 if not_before is None else not_before
            cert, key = self.fleet.ca.issue(name, start, now + valid_s)
            tls = self.fleet.state_dir / s.home / "tls"
            with log.op("write", f"install certificate in {tls}/cert.pem") as out:
                info = pki.install(tls, cert, key)
                out.append(f"serial {info.serial}, valid until {to_datetime(info.not_after)}")
            return info

    def reinstall_certificate(self, name: str, serial: str, log: OpLog) -> pki.CertInfo:
        with self.fleet.lock:
            s = self.fleet.service(name)
            tls = self.fleet.state_dir / s.home / "tls"
            with log.op("write", f"reinstall certificate {serial} in {tls}/cert.pem") as out:
                try:
                    info = pki.reinstall(tls, serial)
                except FileNotFoundError as exc:
                    raise InputError(f"no backup of certificate {serial} of {name}") from exc
                out.append(f"valid until {to_datetime(info.not_after)}")
            return info

    def issue_credential(self, name: str, log: OpLog) -> str:
        """A new credential for ``name`` in the secret store; the old one is burned."""
        with self.fleet.lock:
            s = self.fleet.service(name)
            old = self.fleet.vault.get(name)
            with log.op("write", f"issue credential of {name} ({s.home}/credential.json)") as out:
                cred = self.fleet.vault.issue(
                    name, s.spec.credential_valid_days * DAY_S, self.fleet.clock()
                )
                out.append(f"id {cred.id}; burned {old.id if old else 'nothing'}")
            return cred.id
