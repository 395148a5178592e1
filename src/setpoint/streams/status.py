"""A worker's status file: what it owns, what it counted, how far its checkpoints got, its memory
and CPU, written every ``status_interval_s`` to ``data_dir/status/<worker>.json`` (the
benchmarks and the fault tests read it; an operator can too)."""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from pathlib import Path
from typing import Any

import orjson

from setpoint.streams.handover import Keeper
from setpoint.streams.runtime import Runtime


def status_path(data_dir: Path, worker: str) -> Path:
    return data_dir / "status" / f"{worker}.json"


def snapshot(rt: Runtime, keepers: dict[str, Keeper]) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "worker": rt.settings.worker_id or str(os.getpid()),
        "pid": os.getpid(),
        "t": time.time(),
        "clock": rt.clock.now(),
        "clock_held": rt.clock.held,
        "counters": dict(rt.counters),
        "keepers": {
            name: {
                "owned": sorted(k.owned),
                "ready": k.ready.is_set(),
                "keys": k.keys(),
                **dataclasses.asdict(k.stats),
            }
            for name, k in keepers.items()
        },
        "rss_bytes": _rss(),
        "max_rss_bytes": usage.ru_maxrss * 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data))
    tmp.replace(path)


def path_of(rt: Runtime) -> Path:
    return status_path(rt.settings.data_dir, rt.settings.worker_id or str(os.getpid()))


def add_status(rt: Runtime, keepers: dict[str, Keeper]) -> None:
    path = path_of(rt)

    @rt.app.timer(rt.settings.status_interval_s, name="status")
    async def write_status() -> None:
        write(path, snapshot(rt, keepers))


def _rss() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
