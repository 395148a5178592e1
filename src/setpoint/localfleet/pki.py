"""The local fleet's certificate authority, made with ``cryptography``: a self-signed CA in the
fleet's state directory, and service certificates it issues (EC P-256, SANs for the service
name, ``localhost`` and ``127.0.0.1``). Expiry is real: a certificate past its ``not_after``
fails every verifying TLS handshake."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_CA_DAYS = 3650


@dataclass(frozen=True)
class CertInfo:
    """What matters of a certificate: its serial (hex) and validity (unix seconds)."""

    serial: str
    not_before: float
    not_after: float


def cert_info(pem: bytes) -> CertInfo:
    """Serial and validity of a PEM (or DER) certificate.

    Examples
    --------
    >>> import tempfile
    >>> ca = CertificateAuthority(Path(tempfile.mkdtemp()))
    >>> cert, _ = ca.issue("api", not_before=0.0, not_after=86400.0)
    >>> cert_info(cert).not_after
    86400.0
    """
    c = (
        x509.load_pem_x509_certificate(pem)
        if pem.lstrip().startswith(b"-----")
        else (x509.load_der_x509_certificate(pem))
    )
    return CertInfo(
        f"{c.serial_number:x}",
        c.not_valid_before_utc.timestamp(),
        c.not_valid_after_utc.timestamp(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    """Write atomically (a reader never sees half a certificate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


class CertificateAuthority:
    """A CA kept under ``root`` (``ca.pem``, ``ca.key``), created on first use.

    Parameters
    ----------
    root
        Its directory (``<state>/pki``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cert_path = root / "ca.pem"
        self.key_path = root / "ca.key"
        if not self.cert_path.exists():
            self._create()
        self._key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
        self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "setpoint local fleet CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        _write(
            self.key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            private=True,
        )
        _write(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, service: str, not_before: float, not_after: float) -> tuple[bytes, bytes]:
        """A new certificate and key for ``service``, valid between the two times (PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [
            x509.DNSName(service),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        ca_key = self._key
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.fromtimestamp(not_before, dt.UTC))
            .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.UTC))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def install(tls_dir: Path, cert: bytes, key: bytes) -> CertInfo:
    """Put ``cert`` and ``key`` in place for a service (its replicas load them on SIGHUP), keeping
    a copy by serial under ``backup/`` so an undo can reinstall it; return its info."""
    info = cert_info(cert)
    _write(tls_dir / "backup" / f"{info.serial}.pem", cert)
    _write(tls_dir / "backup" / f"{info.serial}.key", key, private=True)
    _write(tls_dir / "key.pem", key, private=True)
    _write(tls_dir / "cert.pem", cert)
    return info


def reinstall(tls_dir: Path, serial: str) -> CertInfo:
    """Put the backed-up certificate ``serial`` back in place (``FileNotFoundError`` if none)."""
    cert = (tls_dir / "backup" / f"{serial}.pem").read_bytes()
    key = (tls_dir / "backup" / f"{serial}.key").read_bytes()
    _write(tls_dir / "key.pem", key, private=True)
    _write(tls_dir / "cert.pem", cert)
    return cert_info(cert)
