"""The local fleet's telemetry, measured from outside the services, for real.

* A **load generator** sends user requests to the entry service and synthetic probes to every
  service (plus any extra load a saturation fault asks for), through the proxies, over verified
  TLS, presenting its own credential: latency and errors are what those clients saw.
* The **proxies** count every connection (the request rate, all callers included) and how long
  connections stay open (mean concurrency over capacity: saturation).
* ``/proc`` gives each replica's resident memory and CPU time.
* A **health prober** does a verifying TLS handshake and ``GET /health`` on every replica.
* A **certificate and credential watch** reads each service's served certificate (a TLS
  handshake that keeps the certificate) and the secret store, and announces an expiry that is
  near as a ``ChangeEvent``, as a certificate manager or a vault would.

It all becomes the same events the simulated fleet emits: ``MetricBatch``, ``HealthCheck``,
``ChangeEvent`` (the log shipper adds ``LogEvent`` and ``TraceSpan``).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import ssl
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from setpoint.clock import to_datetime
from setpoint.localfleet import pki
from setpoint.localfleet.proxy import Counts
from setpoint.schemas import ChangeType, Event, HealthCheck, MetricBatch, MetricPoint

if TYPE_CHECKING:
    from setpoint.localfleet.fleet import LocalFleet
    from setpoint.localfleet.proxy import Proxy

_TIMEOUT_S = 2.0
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
EXPIRY_WARNING_S = 7 * 86400.0


@dataclass
class _Window:
    """One service's client-side measurements and proxy counts over the last ``window_s``."""

    requests: deque[tuple[float, float, bool]] = field(default_factory=deque)
    proxy: deque[tuple[float, Counts]] = field(default_factory=deque)

    def trim(self, horizon: float) -> None:
        while self.requests and self.requests[0][0] < horizon:
            self.requests.popleft()
        while self.proxy and self.proxy[0][0] < horizon:
            self.proxy.popleft()


def _quantile(sorted_values: list[float], q: float) -> float:
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


class Prober:
    """Generates the load and measures the local fleet (see the module docstring).

    Parameters
    ----------
    fleet, proxy
        What to measure.
    workers
        Threads sending requests.
    """

    def __init__(self, fleet: LocalFleet, proxy: Proxy, workers: int = 24) -> None:
        self.fleet = fleet
        self.proxy = proxy
        self.workers = workers
        self.extra_rps: dict[str, float] = {}
        self._windows: dict[str, _Window] = {n: _Window() for n in fleet.services}
        self._cpu: dict[int, tuple[float, float]] = {}
        self._announced: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="probe")
        self._thread = threading.Thread(target=self._generate, name="load", daemon=True)
        ca = str(fleet.state_dir / "pki" / "ca.pem")
        self._tls = ssl.create_default_context(cafile=ca)
        cred = json.loads((fleet.state_dir / "services" / "prober" / "credential.json").read_text())
        self._auth = f"Bearer {cred['id']}:{cred['secret']}"
        self._last_health = 0.0
        self._last_watch = 0.0

    # -- load --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def rates(self) -> dict[str, float]:
        """Requests per second the generator sends to each service now."""
        load = self.fleet.spec.load
        out = dict.fromkeys(self.fleet.services, load.probe_rps)
        out[load.entry] += load.rps
        for n, extra in self.extra_rps.items():
            out[n] = out.get(n, 0.0) + extra
        return out

    def _generate(self) -> None:
        due: dict[str, float] = {}
        step = 0.02
        while not self._stop.wait(step):
            now = time.monotonic()
            for name, rps in self.rates().items():
                if rps <= 0:
                    continue
                at = due.setdefault(name, now + random.expovariate(rps))
                while at <= now:
                    self._pool.submit(self._request, name)
                    at += random.expovariate(rps)
                due[name] = at

    def _request(self, name: str) -> None:
        port = self.fleet.services[name].proxy_port
        key = random.randrange(self.fleet.spec.load.keys)
        started = time.monotonic()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=_TIMEOUT_S, context=self._tls)
        ok = False
        try:
            conn.request(
                "GET", f"/item/{key}", headers={"Authorization": self._auth, "Connection": "close"}
            )
            resp = conn.getresponse()
            resp.read()
            ok = resp.status < 500
        except (OSError, ssl.SSLError, http.client.HTTPException):
            ok = False
        finally:
            conn.close()
        ms = (time.monotonic() - started) * 1000.0
        with self._lock:
            self._windows[name].requests.append((time.time(), ms, ok))

    # -- samples -----------------------------------------------------------------------------
    def sample(self) -> list[Event]:
        """What one sample of the fleet emits now: metrics per service, health checks and
        expiry announcements when they are due."""
        now = time.time()
        out: list[Event] = [self._metrics(name, now) for name in self.fleet.services]
        if now - self._last_health >= self.fleet.spec.health_interval_s:
            self._last_health = now
            out += self._health(now)
        if now - self._last_watch >= 5.0:
            self._last_watch = now
            self._watch_expiries(now)
        return out

    def _metrics(self, name: str, now: float) -> MetricBatch:
        spec = self.fleet.spec
        with self._lock:
            w = self._windows[name]
            w.proxy.append((now, self.proxy.take(name)))
            w.trim(now - spec.window_s)
            reqs = list(w.requests)
            counts = [c for _, c in w.proxy]
        values: dict[str, float] = {}
        # The counts cover from the start of the oldest one kept until now.
        span = max(0.2, time.monotonic() - counts[0].since)
        values["request_rate"] = sum(c.accepted for c in counts) / span
        if reqs:
            lat = sorted(ms for _, ms, _ in reqs)
            values["latency_p50_ms"] = _quantile(lat, 0.5)
            values["latency_p99_ms"] = _quantile(lat, 0.99)
            values["error_rate"] = sum(1 for *_, ok in reqs if not ok) / len(reqs)
        values.update(self._processes(name, now, sum(c.busy_s for c in counts) / span))
        ts = to_datetime(now)
        points = [MetricPoint(name=k, value=round(v, 6), ts=ts) for k, v in values.items()]
        return MetricBatch(service=name, points=points)

    def _processes(self, name: str, now: float, concurrency: float) -> dict[str, float]:
        with self.fleet.lock:
            s = self.fleet.services[name]
            pids = [r.pid for r in s.replicas.values() if r.up]
            capacity = max(1, len(pids)) * s.spec.concurrency
        rss, cpu = [], []
        for pid in pids:
            got = _proc(pid)
            if got is None:
                continue
            mb, ticks = got
            rss.append(mb)
            last = self._cpu.get(pid)
            self._cpu[pid] = (now, ticks)
            if last is not None and now > last[0]:
                cpu.append((ticks - last[1]) / _CLK_TCK / (now - last[0]))
        out = {"saturation": min(1.0, concurrency / capacity)}
        if rss:
            out["memory_mb"] = sum(rss) / len(rss)
        if cpu:
            out["cpu"] = min(1.0, sum(cpu) / len(cpu))
        return out

    def _health(self, now: float) -> list[HealthCheck]:
        with self.fleet.lock:
            reps = [r for s in self.fleet.services.values() for r in s.replicas.values()]
        futures = [(r, self._pool.submit(self._check, r.port)) for r in reps]
        out = []
        for r, fut in futures:
            ok, ms, detail = fut.result()
            out.append(
                HealthCheck(
                    service=r.service,
                    ts=to_datetime(now),
                    ok=ok,
                    instance=r.name,
                    latency_ms=ms,
                    detail=detail[:1000],
                )
            )
        return out

    def _check(self, port: int) -> tuple[bool, float | None, str]:
        started = time.monotonic()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=1.0, context=self._tls)
        try:
            conn.request("GET", "/health", headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            ms = (time.monotonic() - started) * 1000.0
            return resp.status == 200, ms, "ok" if resp.status == 200 else f"HTTP {resp.status}"
        except ssl.SSLCertVerificationError as exc:
            return False, None, f"TLS handshake failed: {exc.verify_message}"
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return False, None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    def _watch_expiries(self, now: float) -> None:
        for name, s in list(self.fleet.services.items()):
            port = next((r.port for r in s.replicas.values() if r.up), None)
            der = _served_certificate(port) if port is not None else None
            if der is not None:
                info = pki.cert_info(der)
                self._announce(
                    name,
                    ChangeType.CERTIFICATE_EXPIRY,
                    info.serial,
                    info.not_after,
                    f"certificate {info.serial[:12]} of {name}",
                    now,
                )
            cred = self.fleet.vault.get(name)
            if cred is not None and not cred.revoked:
                self._announce(
                    name,
                    ChangeType.CREDENTIAL_EXPIRY,
                    cred.id,
                    cred.expires_at,
                    f"credential {cred.id} of {name}",
                    now,
                )

    def _announce(
        self, name: str, kind: ChangeType, ident: str, expires_at: float, what: str, now: float
    ) -> None:
        key = (kind, f"{ident}@{expires_at}")
        if expires_at - now > EXPIRY_WARNING_S or key in self._announced:
            return
        self._announced.add(key)
        when = "expired" if expires_at <= now else "expires"
        self.fleet.announce(
            name,
            kind,
            f"{what} {when} at {to_datetime(expires_at):%H:%M:%S}",
            expires_at=to_datetime(expires_at),
        )


def _proc(pid: int) -> tuple[float, float] | None:
    """Resident MB and CPU ticks (user + system) of ``pid`` from ``/proc``."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    return rss / 1024.0, float(int(fields[11]) + int(fields[12]))


def _served_certificate(port: int) -> bytes | None:
    """The certificate a replica serves, whatever its validity (a handshake that keeps it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
