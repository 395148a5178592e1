"""How the local fleet starts, signals and reaps real processes (and a port pool for them).

Every process is spawned from one long-lived thread with ``PR_SET_PDEATHSIG``: if the supervisor
dies, even by ``kill -9``, the kernel kills its replicas too, so no service outlives the fleet
(the parent-death signal follows the *thread* that forked, which is why it is a single thread and
not the HTTP handler that asked).
"""

from __future__ import annotations

import ctypes
import http.client
import queue
import signal
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from setpoint.errors import BackendError

_PR_SET_PDEATHSIG = 1


class Driver(Protocol):
    """Process operations the fleet needs (a fake one drives the unit tests)."""

    def spawn(self, argv: list[str], log: Path) -> int: ...

    def ready(self, port: int, timeout_s: float) -> bool: ...

    def signal(self, pid: int, sig: int) -> None: ...

    def wait(self, pid: int, timeout_s: float) -> int | None: ...

    def alive(self, pid: int) -> bool: ...


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Processes:
    """The real :class:`Driver`: subprocesses that die with the supervisor.

    Examples
    --------
    >>> import sys, tempfile
    >>> p = Processes()
    >>> pid = p.spawn([sys.executable, "-c", "import time; time.sleep(30)"],
    ...               Path(tempfile.mkdtemp()) / "x.log")
    >>> p.alive(pid), p.signal(pid, 15), p.wait(pid, 5.0), p.alive(pid)
    (True, None, -15, False)
    >>> p.close()
    """

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._jobs: queue.Queue[tuple[list[str], Path, Future[int]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._spawner, name="spawner", daemon=True)
        self._thread.start()

    def _spawner(self) -> None:
        while (job := self._jobs.get()) is not None:
            argv, log, fut = job
            try:
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("ab") as out:
                    proc = subprocess.Popen(
                        argv,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        close_fds=True,
                        preexec_fn=_die_with_parent,
                    )
                self._procs[proc.pid] = proc
                fut.set_result(proc.pid)
            except OSError as exc:
                fut.set_exception(exc)

    def spawn(self, argv: list[str], log: Path) -> int:
        fut: Future[int] = Future()
        self._jobs.put((argv, log, fut))
        try:
            return fut.result(timeout=30.0)
        except OSError as exc:
            msg = f"cannot start {argv[:3]}: {exc}"
            raise BackendError(msg, context={"argv": argv}) from exc

    def ready(self, port: int, timeout_s: float) -> bool:
        """Whether something answers ``GET /health`` over TLS on ``port`` within the time (its
        certificate is not judged here: a replica with an expired one is still running)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=1.0, context=ctx)
            try:
                conn.request("GET", "/health")
                if conn.getresponse().status in (200, 503):
                    return True
            except (OSError, ssl.SSLError, http.client.HTTPException):
                time.sleep(0.05)
            finally:
                conn.close()
        return False

    def signal(self, pid: int, sig: int) -> None:
        proc = self._procs.get(pid)
        if proc is None or proc.poll() is not None:
            raise ProcessLookupError(pid)
        proc.send_signal(sig)

    def wait(self, pid: int, timeout_s: float) -> int | None:
        proc = self._procs.get(pid)
        if proc is None:
            return None
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self._procs.pop(pid, None)
        return code

    def alive(self, pid: int) -> bool:
        proc = self._procs.get(pid)
        return proc is not None and proc.poll() is None

    def close(self) -> None:
        """Kill whatever is still running and stop the spawner thread."""
        for pid, proc in list(self._procs.items()):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10.0)
            self._procs.pop(pid, None)
        self._jobs.put(None)
        self._thread.join(timeout=5.0)


class PortPool:
    """Ports in ``[first, last]`` handed out one at a time, skipping ones in use by anyone.

    Examples
    --------
    >>> pool = PortPool(18690, 18699)
    >>> a = pool.take(); b = pool.take()
    >>> a != b, 18690 <= a <= 18699
    (True, True)
    >>> pool.give_back(a)
    """

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.last = last
        self._taken: set[int] = set()
        self._next = first
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            for _ in range(self.last - self.first + 1):
                port = self._next
                self._next = self.first if port >= self.last else port + 1
                if port not in self._taken and _free(port):
                    self._taken.add(port)
                    return port
        msg = f"no free port left in {self.first}-{self.last}"
        raise BackendError(msg, context={"ports": (self.first, self.last)})

    def give_back(self, port: int) -> None:
        with self._lock:
            self._taken.discard(port)


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
