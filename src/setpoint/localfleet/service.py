"""One replica of a service of the local fleet: a tiny HTTPS server in its own process.

Stdlib only, and run as a script (``python .../service.py --state-dir D --service S ...``) so it
starts in a few tens of milliseconds and imports nothing of Setpoint. Everything it is lives in
the fleet's state directory, written by the supervisor:

* ``fleet.json``: the releases (what each version does: ``error_rate``, ``latency_factor``,
  ``message``) and where each service's proxy listens.
* ``services/S/config.json``: its dependencies, whether it has a cache, checks its callers'
  credentials, its concurrency and its work per request.
* ``services/S/tls/{cert,key}.pem`` (issued by ``pki/ca.pem``): the certificate it serves.
* ``services/S/credential.json``: the credential it presents to its dependencies;
  ``secrets/store.json``: the secret store callees check presented credentials against.
* ``services/S/cache/``: its cache (shared by its replicas), entries ``<sha256>\\n<value>``.
* ``services/S/env/``: conditions of its environment (a file per condition) that make a share of
  its requests fail; a restart does not clear them.

``SIGHUP`` reloads the certificate, the credential and the configuration; ``SIGTERM`` stops it.
``POST /_admin/leak`` (with the fleet's admin token) makes it leak memory. Every error it serves
is logged, one JSON line per event, in ``logs/<replica>.log``, with an ``error_class``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OOM_MB = 240.0
"""Leaked memory at which the replica stops answering (its heap is exhausted)."""
SLOW_MB = 60.0
"""Leaked memory from which requests slow down (garbage-collection pressure)."""
CHURN_MB = 6
"""Up to this much working memory comes and goes every second (buffers of requests, a garbage
collector's sawtooth): resident memory really moves, as a real service's does."""
QUEUE_WAIT_S = 0.4
CALL_TIMEOUT_S = 1.0
MISS_MS = 15.0


class _Failure(Exception):
    def __init__(self, status: int, error_class: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_class = error_class
        self.message = message


class Replica:
    """The state of this replica: its configuration, certificate, credential and faults."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(args.state_dir)
        self.home = self.root / "services" / args.service
        self.log_path = self.root / "logs" / f"{args.replica}.log"
        self.leaked: list[bytearray] = []
        self.leak_rate = 0.0
        self.heap = [bytearray(b"\x01") * (1 << 20) for _ in range(int(args.heap_mb))]
        self._log_lock = threading.Lock()
        self._store: tuple[float, dict[str, Any]] = (0.0, {})
        self.reload()

    # -- configuration ---------------------------------------------------------------------
    def reload(self) -> None:
        fleet = json.loads((self.root / "fleet.json").read_text())
        self.config: dict[str, Any] = json.loads((self.home / "config.json").read_text())
        self.release: dict[str, Any] = fleet["releases"].get(self.args.version, {})
        self.proxies: dict[str, int] = {n: s["port"] for n, s in fleet["services"].items()}
        self.credential: dict[str, Any] = json.loads((self.home / "credential.json").read_text())
        self.admin_token = (self.root / "admin.token").read_text().strip()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.home / "tls" / "cert.pem", self.home / "tls" / "key.pem")
        self.server_tls = tls
        self.client_tls = ssl.create_default_context(cafile=str(self.root / "pki" / "ca.pem"))
        self.gate = threading.BoundedSemaphore(int(self.config.get("concurrency", 8)))

    @property
    def leaked_mb(self) -> float:
        return float(len(self.leaked))

    # -- logging ---------------------------------------------------------------------------
    def log(self, level: str, message: str, error_class: str | None = None, **extra: Any) -> None:
        line = {
            "ts": time.time(),
            "level": level,
            "message": message,
            "error_class": error_class,
            "replica": self.args.replica,
            **extra,
        }
        with self._log_lock, self.log_path.open("a") as f:
            f.write(json.dumps(line) + "\n")

    # -- serving ---------------------------------------------------------------------------
    def serve(self, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        """Answer one request: ``(status, body)``; a failure is logged with its class."""
        if self.config.get("auth"):
            denied = self._check_caller(headers.get("Authorization", ""))
            if denied:
                return 401, {"error": denied}
        gate = self.gate  # a reload swaps it; release the one acquired
        if not gate.acquire(timeout=QUEUE_WAIT_S):
            self.log("error", "request rejected: work queue full", "overloaded")
            return 503, {"error": "overloaded"}
        try:
            return 200, self._work(path)
        except _Failure as f:
            self.log("error", f.message, f.error_class)
            return f.status, {"error": f.message}
        finally:
            gate.release()

    def _work(self, path: str) -> dict[str, Any]:
        self._environment()
        mb = self.leaked_mb
        if mb >= OOM_MB:
            raise _Failure(503, "oom", "java.lang.OutOfMemoryError: Java heap space")
        if random.random() < float(self.release.get("error_rate", 0.0)):
            msg = self.release.get("message") or "Unhandled exception in request handler"
            raise _Failure(500, "exception", str(msg))
        slow = float(self.release.get("latency_factor", 1.0)) * (1.0 + max(0.0, mb - SLOW_MB) / 60)
        time.sleep(float(self.config.get("work_ms", 5.0)) * slow / 1000.0)
        body: dict[str, Any] = {
            "service": self.args.service,
            "replica": self.args.replica,
            "version": self.args.version,
        }
        if self.config.get("cache"):
            body["item"] = self._cached(path.rsplit("/", 1)[-1] or "index")
        for dep in self.config.get("depends_on", []):
            self._call(dep, path)
        return body

    def _environment(self) -> None:
        env = self.home / "env"
        for cond in sorted(env.glob("*.json")) if env.exists() else []:
            spec = json.loads(cond.read_text())
            if random.random() < float(spec.get("error_rate", 0.3)):
                raise _Failure(500, str(spec.get("error_class", cond.stem)), str(spec["message"]))

    def _cached(self, key: str) -> str:
        safe = hashlib.sha256(key.encode()).hexdigest()[:16]
        entry = self.home / "cache" / safe
        try:
            text: str = entry.read_text()
            digest, _, value = text.partition("\n")
        except FileNotFoundError:
            time.sleep(MISS_MS / 1000.0)  # the source of truth is slower than the cache
            value = f"item {key} from the source of truth"
            tmp = entry.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(hashlib.sha256(value.encode()).hexdigest() + "\n" + value)
            tmp.replace(entry)
            return value
        if hashlib.sha256(value.encode()).hexdigest() != digest:
            msg = "cache entry failed to deserialize: checksum mismatch (served a miss)"
            raise _Failure(500, "cache_corrupt", msg)
        return value

    def _call(self, dep: str, path: str) -> None:
        started = time.monotonic()
        failed = True
        try:
            status = self._request(dep, path)
            failed = status >= 500 or status == 401
        finally:
            self._span(dep, started, failed)
        if status == 401:
            raise _Failure(
                502, "auth_denied", f"call to {dep} denied: 401 credential expired or revoked"
            )
        if status >= 500:
            raise _Failure(502, "upstream_error", f"{dep} answered {status}")

    def _request(self, dep: str, path: str) -> int:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.proxies[dep], timeout=CALL_TIMEOUT_S, context=self.client_tls
        )
        cred = f"{self.credential['id']}:{self.credential['secret']}"
        try:
            conn.request(
                "GET", path, headers={"Authorization": f"Bearer {cred}", "Connection": "close"}
            )
            resp = conn.getresponse()
            resp.read()
            return int(resp.status)
        except ssl.SSLCertVerificationError as exc:
            raise _Failure(
                502, "tls_handshake", f"TLS handshake with {dep} failed: {exc.verify_message}"
            ) from exc
        except (ssl.SSLError, OSError, http.client.HTTPException) as exc:
            raise _Failure(
                502, "upstream_unavailable", f"{dep}: unavailable ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            conn.close()

    def _span(self, dep: str, started: float, failed: bool) -> None:
        if random.random() < 0.2:  # sampled, like a tracer would
            ms = round((time.monotonic() - started) * 1000.0, 2)
            self.log("debug", "span", None, callee=dep, ms=ms, failed=failed)

    def _check_caller(self, header: str) -> str:
        ident, _, secret = header.removeprefix("Bearer ").partition(":")
        store = self._secret_store()
        entry = next((e for e in store.values() if e.get("id") == ident), None)
        if entry is None or entry.get("sha256") != hashlib.sha256(secret.encode()).hexdigest():
            return "unknown credential"
        if entry.get("revoked"):
            return "credential revoked"
        if float(entry.get("expires_at", 0.0)) <= time.time():
            return "credential expired"
        return ""

    def _secret_store(self) -> dict[str, Any]:
        path = self.root / "secrets" / "store.json"
        mtime = path.stat().st_mtime
        if mtime != self._store[0]:
            self._store = (mtime, json.loads(path.read_text()))
        return self._store[1]

    # -- faults ----------------------------------------------------------------------------
    def leak(self, mb_per_s: float) -> None:
        first = self.leak_rate == 0.0
        self.leak_rate = mb_per_s
        if first and mb_per_s > 0:
            threading.Thread(target=self._leak, daemon=True).start()

    def churn(self) -> None:
        """Working memory that comes and goes (large buffers: freed pages return to the OS)."""
        while True:
            mb = random.randint(0, CHURN_MB)
            buf = bytearray(b"\x02") * (mb << 20) if mb else None
            time.sleep(1.0)
            del buf

    def _leak(self) -> None:
        while self.leak_rate > 0 and self.leaked_mb < OOM_MB + 20:
            self.leaked.append(bytearray(b"\x01") * (1 << 20))  # touched: really resident
            time.sleep(1.0 / self.leak_rate)


class _Handler(BaseHTTPRequestHandler):
    replica: Replica
    server_version = "setpoint-local/1"
    protocol_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        sock = self.request
        if isinstance(sock, ssl.SSLSocket):
            sock.settimeout(5.0)
            sock.do_handshake()

    def do_GET(self) -> None:
        r = self.replica
        if self.path == "/health":
            oom = r.leaked_mb >= OOM_MB
            self._send(
                503 if oom else 200,
                {
                    "ok": not oom,
                    "replica": r.args.replica,
                    "version": r.args.version,
                    "pid": os.getpid(),
                    "leaked_mb": r.leaked_mb,
                },
            )
            return
        status, body = r.serve(self.path, self.headers)
        self._send(status, body)

    def do_POST(self) -> None:
        r = self.replica
        if self.headers.get("X-Admin-Token") != r.admin_token:
            self._send(403, {"error": "admin token required"})
            return
        size = int(self.headers.get("Content-Length", "0") or 0)
        body = json.loads(self.rfile.read(size) or b"{}") if 0 < size < 65536 else {}
        if self.path == "/_admin/leak":
            r.leak(float(body.get("mb_per_s", 1.0)))
            self._send(200, {"ok": True, "leaking_mb_per_s": r.leak_rate})
        else:
            self._send(404, {"error": f"no such path {self.path}"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: errors are logged by the replica, in JSON."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    replica: Replica

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        # The handshake happens in the handler's thread, with the certificate loaded *now*
        # (a SIGHUP swaps it for the next connection).
        tls = self.replica.server_tls
        return tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or rejects our certificate is not our error."""


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="one replica of a local fleet service")
    for name in ("state-dir", "service", "replica", "version", "region"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--heap-mb", type=int, default=32, help="resident memory it starts with")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    replica = Replica(args)
    handler = type("Handler", (_Handler,), {"replica": replica})
    server = _Server(("127.0.0.1", args.port), handler, bind_and_activate=False)
    server.replica = replica
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.server_bind()
    server.server_activate()
    threading.Thread(target=replica.churn, name="churn", daemon=True).start()
    signal.signal(signal.SIGHUP, lambda *_: replica.reload())
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    replica.log(
        "info",
        f"{args.replica} {args.version} listening on {args.port} "
        f"(pid {os.getpid()}, region {args.region})",
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    replica.log("info", f"{args.replica} stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
