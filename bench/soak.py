"""Memory over time: one detect worker (pinned to one core) fed at a steady rate for a long time;
its RSS sampled every 10 s, and the slope over the second half of the run reported.

    .venv/bin/python bench/soak.py                      # 30 minutes at 25,000 events/s
    .venv/bin/python bench/soak.py --minutes 5          # the short run

Memory is flat when the slope over the second half is within noise of zero (the first half holds
the warm-up: series being created, buffers and caches filling). The fleet is fixed (the same
series all along), as in production between deploys; its event time advances one step per scrape.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Fleet, Publisher
from throughput import Run


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y)."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points) or 1.0
    return sum((t - mt) * (y - my) for t, y in points) / var


def main() -> None:
    ap = argparse.ArgumentParser(description="memory of a detect worker over a long run")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=25_000.0, help="events (points) per second")
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--cpu", default="1")
    args = ap.parse_args()
    base = {"SETPOINT_BROKER": os.environ.get("SETPOINT_BROKER", "127.0.0.1:19092")}
    run = Run(base, "soak", 4)
    try:
        wid = run.worker(args.cpu, None, SETPOINT_AGENTS="detect")
        run.wait_ready(wid)
        pub = Publisher(run.settings, Fleet(args.services))
        feeder = threading.Thread(target=pub.run, args=(args.rate, args.minutes * 60), daemon=True)
        started = time.monotonic()
        feeder.start()
        samples: list[tuple[float, float, int]] = []
        while feeder.is_alive():
            time.sleep(10.0)
            st = run.status(wid)
            t = time.monotonic() - started
            lag = pub.messages - st.get("counters", {}).get("in.telemetry.metrics", 0)
            samples.append((t, st.get("rss_bytes", 0) / 1e6, lag))
            print(f"{t:7.0f}s  rss {samples[-1][1]:7.1f} MB  lag {lag:6d} messages", flush=True)
        half = [(t, rss) for t, rss, _ in samples if t >= args.minutes * 30]
        per_min = slope(half) * 60 if len(half) >= 2 else float("nan")
        first, last = samples[len(samples) // 2][1], samples[-1][1]
        print(f"\nran {args.minutes:.0f} min at {pub.points / (time.monotonic() - started):,.0f} "
              f"events/s; RSS {samples[0][1]:.0f} MB at 10 s, {first:.0f} MB at half time, "
              f"{last:.0f} MB at the end; slope over the second half {per_min:+.2f} MB/min; "
              f"largest lag {max(lag for *_, lag in samples)} messages")  # fmt: skip
    finally:
        run.stop()


if __name__ == "__main__":
    main()
