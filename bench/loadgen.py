"""A load generator: realistic telemetry from many services x metrics x instances onto the real
broker, as metric batches (one service's scrape per message, remote-write style) or single
samples, at a steady rate or as fast as possible, with a share of services whose latency and CPU
shift at a known moment (their publish time is written down, for latency measurements).

    .venv/bin/python bench/loadgen.py --services 200 --rate 25000 --duration 60 \
        --anomalous 0.1 --injections /tmp/inj.jsonl

Uses the topic prefix and broker of the ``SETPOINT_*`` settings.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from setpoint.settings import Settings
from setpoint.streams.topics import METRICS, full_name

NAMES = [
    "latency_p50_ms", "latency_p99_ms", "error_rate", "request_rate", "cpu", "memory_mb",
    "saturation", "gc_pause_ms", "queue_depth", "open_connections", "disk_io_ms", "threads",
]  # fmt: skip
AGGREGATES = 4
"""The first names are service-level aggregates (one series per service, in the health summaries
diagnosis reads); the others are per instance."""
SHIFTED = ("latency_p99_ms", "request_rate", "cpu")
"""What an injected fault moves (a surge: saturation, which the decide stage scales out)."""


@dataclass
class Fleet:
    """The synthetic fleet: its series, their levels, and which services go wrong when."""

    services: int = 100
    metrics: int = 10
    instances: int = 16
    step_s: float = 1.0
    anomalous: float = 0.0
    inject_at: int = 300
    seed: int = 7
    t0: float = field(default_factory=lambda: float(int(time.time())) - 3600.0)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.names = [NAMES[i] if i < len(NAMES) else f"custom_{i}" for i in range(self.metrics)]
        self.levels = [[rng.uniform(10.0, 500.0) for _ in self.names] for _ in range(self.services)]
        bad = rng.sample(range(self.services), round(self.anomalous * self.services))
        self.faults = {s: self.inject_at + rng.randrange(0, 50) for s in bad}
        self._rng = rng

    @property
    def points_per_batch(self) -> int:
        agg = min(AGGREGATES, self.metrics)
        return agg + (self.metrics - agg) * self.instances

    @property
    def points_per_tick(self) -> int:
        return self.services * self.points_per_batch

    def service(self, s: int) -> str:
        return f"svc-{s:05d}"

    def batch(self, s: int, tick: int) -> tuple[dict[str, Any], bool]:
        """Service ``s``'s scrape at ``tick`` and whether it is the first anomalous one."""
        t = self.t0 + tick * self.step_s
        shifted = s in self.faults and tick >= self.faults[s]
        gauss = self._rng.gauss
        points = []
        for m, name in enumerate(self.names):
            base = self.levels[s][m] * (1.0 + 0.1 * math.sin(tick / 300.0))
            if shifted and name in SHIFTED:
                base *= 4.0
            for i in range(1 if m < AGGREGATES else self.instances):
                v = round(base * (1.0 + 0.02 * gauss(0.0, 1.0)), 3)
                inst = "" if m < AGGREGATES else f"i-{i}"
                points.append({"name": name, "value": v, "ts": t, "instance": inst})
        doc = {"kind": "metric_batch", "service": self.service(s), "points": points}
        return doc, shifted and tick == self.faults[s]

    def samples(self, doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for p in doc["points"]:
            yield {"kind": "metric", "service": doc["service"], **p}


class Publisher:
    """Produces a fleet's ticks at a rate (points per second; 0: as fast as possible)."""

    def __init__(self, settings: Settings, fleet: Fleet, singles: bool = False) -> None:
        self.fleet = fleet
        self.singles = singles
        self.topic = full_name(settings.topic_prefix, METRICS)
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap(),
                "partitioner": "murmur2_random",
                "linger.ms": 10,
                "batch.num.messages": 10000,
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
            }
        )
        self.tick = 0
        self.points = 0
        self.messages = 0
        self.injections: list[dict[str, Any]] = []
        self.published: dict[int, float] = {}
        """When each tick's last message was handed to the producer (wall clock)."""

    def run(self, rate: float, duration_s: float | None = None, points: int | None = None) -> None:
        start = time.monotonic()
        while True:
            if duration_s is not None and time.monotonic() - start >= duration_s:
                break
            if points is not None and self.points >= points:
                break
            self.publish_tick()
            if rate > 0:
                ahead = self.points / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        self.producer.flush(60)

    def publish_tick(self) -> None:
        fleet, tick = self.fleet, self.tick
        for s in range(fleet.services):
            doc, first = fleet.batch(s, tick)
            key = doc["service"].encode()
            if self.singles:
                for sample in fleet.samples(doc):
                    self._produce(key, orjson.dumps(sample))
            else:
                self._produce(key, orjson.dumps(doc))
            self.points += len(doc["points"])
            if first:
                t = fleet.t0 + tick * fleet.step_s
                self.injections.append(
                    {
                        "service": doc["service"],
                        "tick": tick,
                        "event_t": t,
                        "published": time.time(),
                    }
                )
        self.producer.poll(0)
        self.published[tick] = time.time()
        self.tick += 1

    def _produce(self, key: bytes, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value, key)
                self.messages += 1
                return
            except BufferError:
                self.producer.poll(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--instances", type=int, default=16)
    ap.add_argument("--step", type=float, default=1.0, help="event-time seconds per scrape")
    ap.add_argument("--rate", type=float, default=0.0, help="points/s (0: as fast as possible)")
    ap.add_argument("--duration", type=float, default=None, help="seconds to run")
    ap.add_argument("--points", type=int, default=None, help="points to publish")
    ap.add_argument("--singles", action="store_true", help="one message per sample")
    ap.add_argument("--anomalous", type=float, default=0.0, help="share of services that shift")
    ap.add_argument("--inject-at", type=int, default=300, help="tick of the first shift")
    ap.add_argument("--injections", type=Path, default=None, help="write the shifts here")
    args = ap.parse_args()
    fleet = Fleet(args.services, args.metrics, args.instances, args.step, args.anomalous,
                  args.inject_at)  # fmt: skip
    pub = Publisher(Settings(), fleet, args.singles)
    started = time.monotonic()
    pub.run(args.rate, args.duration, args.points)
    took = time.monotonic() - started
    print(f"published {pub.points} points in {pub.messages} messages in {took:.1f}s "
          f"({pub.points / took:,.0f} points/s)")  # fmt: skip
    if args.injections:
        args.injections.write_bytes(b"\n".join(orjson.dumps(i) for i in pub.injections))


if __name__ == "__main__":
    main()
