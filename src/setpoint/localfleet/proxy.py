"""The local fleet's load balancer: one TCP proxy per service, spreading connections over the
service's replicas by region weight (a traffic shift changes the weights), round-robin within a
region. TLS passes through untouched, so callers verify the replica's own certificate.

It is deliberately a dumb layer-4 balancer: it does not health-check, retry or eject a dead
replica (so a region that goes down keeps failing its share of requests until traffic is
shifted away). It counts what it sees, from outside the services: connections accepted
(requests: every client closes after one), connections it could not forward, and the time
connections were open (their mean concurrency, for saturation).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import threading
import time
from dataclasses import dataclass, field

_CONNECT_TIMEOUT_S = 1.0
_IDLE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Upstream:
    replica: str
    port: int
    region: str


@dataclass
class Counts:
    """What one service's proxy saw since the last :meth:`Proxy.take`."""

    accepted: int = 0
    failed: int = 0
    busy_s: float = 0.0
    since: float = field(default_factory=time.monotonic)


@dataclass
class _Route:
    upstreams: list[Upstream] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)
    rr: itertools.count[int] = field(default_factory=itertools.count)


class Proxy:
    """Runs every service's proxy on one asyncio loop, in a daemon thread.

    Examples
    --------
    >>> p = Proxy()
    >>> p.route("api", [Upstream("api-1", 9, "eu"), Upstream("api-2", 10, "us")], {"eu": 1.0})
    >>> p.pick("api").replica
    'api-1'
    """

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: dict[str, asyncio.Server] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close every listener and connection, then the loop."""
        loop = self._loop
        if loop is None:
            return
        servers = list(self._servers.values())

        async def shut() -> None:
            for srv in servers:
                srv.close()
            for srv in servers:
                await srv.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=10.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        loop.close()
        self._loop = None
        self._servers.clear()

    def listen(self, service: str, port: int) -> None:
        """Start the proxy of ``service`` on ``port`` (raises ``OSError`` if it is taken)."""
        assert self._loop is not None, "start() the proxy first"
        with self._lock:
            self._routes.setdefault(service, _Route())

        async def serve() -> asyncio.Server:
            return await asyncio.start_server(
                lambda r, w: self._handle(service, r, w), "127.0.0.1", port, backlog=128
            )

        fut = asyncio.run_coroutine_threadsafe(serve(), self._loop)
        self._servers[service] = fut.result(timeout=5.0)

    # -- routing -----------------------------------------------------------------------------
    def route(self, service: str, upstreams: list[Upstream], weights: dict[str, float]) -> None:
        """Replace where ``service``'s connections go (takes effect for new connections)."""
        with self._lock:
            r = self._routes.setdefault(service, _Route())
            r.upstreams = list(upstreams)
            r.weights = dict(weights)

    def pick(self, service: str) -> Upstream | None:
        """The upstream of the next connection: a region by weight, then round-robin in it."""
        with self._lock:
            r = self._routes.get(service)
            if r is None or not r.upstreams:
                return None
            regions = sorted({u.region for u in r.upstreams if r.weights.get(u.region, 0) > 0})
            if not regions:
                regions = sorted({u.region for u in r.upstreams})
            weights = [max(r.weights.get(g, 0.0), 0.0) or 1.0 for g in regions]
            region = random.choices(regions, weights)[0]
            ups = [u for u in r.upstreams if u.region == region]
            return ups[next(r.rr) % len(ups)]

    def take(self, service: str) -> Counts:
        """What ``service``'s proxy counted since the last call (and start counting afresh)."""
        with self._lock:
            r = self._routes.setdefault(service, _Route())
            got, r.counts = r.counts, Counts()
            return got

    # -- connections -------------------------------------------------------------------------
    async def _handle(
        self, service: str, cr: asyncio.StreamReader, cw: asyncio.StreamWriter
    ) -> None:
        opened = time.monotonic()
        up = self.pick(service)
        with self._lock:
            self._routes[service].counts.accepted += 1
        try:
            if up is None:
                raise ConnectionRefusedError(f"no replica of {service}")
            ur, uw = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", up.port), _CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            with self._lock:
                self._routes[service].counts.failed += 1
            cw.close()
            return
        try:
            await asyncio.gather(_pipe(cr, uw), _pipe(ur, cw))
        finally:
            for w in (uw, cw):
                w.close()
            with self._lock:
                self._routes[service].counts.busy_s += time.monotonic() - opened


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await asyncio.wait_for(src.read(65536), _IDLE_TIMEOUT_S)
            if not data:
                break
            dst.write(data)
            await dst.drain()
    except (OSError, TimeoutError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if dst.can_write_eof():
                dst.write_eof()
