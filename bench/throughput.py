"""Throughput and latency of the stream workers on the real broker, in one run, each phase on
fresh topics, the worker process pinned to one core:

1. raw ceiling: a bare confluent-kafka consumer that reads the preloaded metrics topic, then
   reads and decodes it (the worker's own codec);
2. detect stage: ``setpoint worker`` with only the detect agent drains the same preload
   (decode, validate, detect, emit anomalies), as fast as it can;
3. latency: the load generator publishes at a share (default half) of that rate, with a share of
   services shifting; publish -> anomaly per shifted service;
4. whole pipeline: every agent (detect, diagnose, decide, verify) on a generated topology at a
   given rate with a share of anomalous services; fault onset -> command.

    .venv/bin/python bench/throughput.py            # about 4 minutes
    .venv/bin/python bench/throughput.py --quick    # about 1.5 minutes, smaller numbers
    .venv/bin/python bench/throughput.py --profile  # also profile the detect worker (cProfile)

Figures are events (metric points) per second; ratios are against the raw ceiling measured in
the same run (the machine is shared: absolute numbers move between runs, ratios less).
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Fleet, Publisher
from setpoint.settings import Settings
from setpoint.streams.admin import delete_topics, ensure_topics
from setpoint.streams.codec import decode_fast
from setpoint.streams.topics import ANOMALIES, COMMANDS, METRICS, full_name

ROOT = Path(__file__).resolve().parents[1]


class Run:
    """A fresh deployment: topic prefix, group, data dir; its worker processes."""

    def __init__(self, base: dict[str, str], name: str, partitions: int) -> None:
        tag = uuid.uuid4().hex[:8]
        self.data = Path(tempfile.mkdtemp(prefix=f"setpoint-bench-{name}-"))
        self.env = {
            **base,
            "SETPOINT_TOPIC_PREFIX": f"bench.{tag}.",
            "SETPOINT_APP_ID": f"bench-{tag}",
            "SETPOINT_DATA_DIR": str(self.data),
            "SETPOINT_PARTITIONS": str(partitions),
            "SETPOINT_SIGNING_KEY": "bench-key",
            "SETPOINT_STATUS_INTERVAL_S": "0.25",
        }
        self.settings = Settings(**_fields(self.env))
        ensure_topics(self.settings)
        self.procs: list[subprocess.Popen[bytes]] = []

    def worker(self, cpu: str, profile: Path | None = None, **extra: str) -> str:
        wid = f"w{len(self.procs)}"
        cmd = [sys.executable, "-m", "setpoint.cli", "worker"]
        if profile is not None:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "setpoint.cli",
                   "worker"]  # fmt: skip
        log = (self.data / f"{wid}.log").open("wb")
        env = {**os.environ, **self.env, "SETPOINT_WORKER_ID": wid, **extra}
        pinned = ["taskset", "-c", cpu, *cmd] if cpu else cmd
        self.procs.append(subprocess.Popen(pinned, env=env, stdout=log, stderr=log, cwd=ROOT))
        return wid

    def status(self, wid: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = orjson.loads((self.data / "status" / f"{wid}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        return data

    def wait_ready(self, wid: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            keepers = self.status(wid).get("keepers", {})
            if keepers and all(k["ready"] and k["owned"] for k in keepers.values()):
                return
            time.sleep(0.2)
        raise SystemExit(f"worker {wid} did not become ready; see {self.data}/{wid}.log")

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        delete_topics(self.settings)


def _fields(env: dict[str, str]) -> dict[str, Any]:
    return {k.removeprefix("SETPOINT_").lower(): v for k, v in env.items()}


def raw_ceiling(settings: Settings, messages: int, decode: bool) -> float:
    """Seconds a bare consumer takes to read (and decode) ``messages`` messages."""
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap(),
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([full_name(settings.topic_prefix, METRICS)])
    seen, started = 0, None
    while seen < messages:
        batch = c.consume(1000, timeout=1.0)
        if batch and started is None:
            started = time.perf_counter()
        for m in batch:
            if m.error():
                continue
            if decode:
                decode_fast(METRICS, m.value())
            seen += 1
    c.close()
    return time.perf_counter() - (started or time.perf_counter())


def drain(run: Run, wid: str, messages: int, timeout_s: float = 600.0) -> tuple[float, float, int]:
    """(seconds, cpu seconds, messages) from the worker's first to its last input message."""
    first: tuple[float, float, int] | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = run.status(wid)
        n = st.get("counters", {}).get("in.telemetry.metrics", 0)
        if n and first is None:
            first = (st["t"], st["cpu_s"], n)
        if first is not None and n >= messages:
            return st["t"] - first[0], st["cpu_s"] - first[1], n - first[2]
        time.sleep(0.05)
    raise SystemExit(f"the worker did not drain {messages} messages in {timeout_s:.0f}s")


class Watch:
    """Reads topics in a thread: every message's key, value and broker timestamp."""

    def __init__(self, settings: Settings, specs: list[Any]) -> None:
        self.rows: list[tuple[str, dict[str, Any], float]] = []
        self._stop = threading.Event()
        names = {full_name(settings.topic_prefix, s): s.name for s in specs}
        self._c = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap(),
                "group.id": uuid.uuid4().hex,
                "auto.offset.reset": "earliest",
            }
        )
        self._c.subscribe(list(names))
        self._names = names
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            m = self._c.poll(0.2)
            if m is None or m.error():
                continue
            ts = m.timestamp()[1] / 1000.0
            self.rows.append((self._names[m.topic() or ""], orjson.loads(m.value() or b"{}"), ts))

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=10)
        self._c.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def first_after(
    rows: list[Any], topic: str, injections: list[dict[str, Any]], field: str
) -> list[float]:
    """Per injected service, seconds from its first shifted publish to the first ``topic``
    message about it (an anomaly firing on it, a command targeting it)."""
    out = []
    for inj in injections:
        svc, t_ev = inj["service"], inj["event_t"]
        times = [
            ts
            for name, v, ts in rows
            if name == topic
            and v.get(field) == svc
            and v.get("status", "firing") == "firing"
            and ts >= inj["published"] - 1.0
            and _onset(v) >= t_ev - 1.0
        ]
        if times:
            out.append(min(times) - inj["published"])
    return out


def from_firing_sample(
    rows: list[Any], injections: list[dict[str, Any]], pub: Publisher, fleet: Fleet
) -> list[float]:
    """Per injected service, seconds from the publish of the tick its first anomaly was raised
    at (the anomaly's ``ts``: the stage's event time when it emitted it, the newest sample it had
    taken) to that anomaly on its topic: the pipeline's own delay (consuming, batching,
    detecting, the checkpoint before the output, producing), without the samples an alert waits
    for to confirm a shift (which arrive one tick apart at the offered rate)."""
    from datetime import datetime

    out = []
    for inj in injections:
        firing = [
            (ts, v)
            for name, v, ts in rows
            if name == "anomalies" and v.get("service") == inj["service"]
            and v.get("status") == "firing" and _onset(v) >= inj["event_t"] - 1.0
        ]  # fmt: skip
        if not firing:
            continue
        ts, v = min(firing, key=lambda r: r[0])
        at = datetime.fromisoformat(v["ts"].replace("Z", "+00:00")).timestamp()
        tick = round((at - fleet.t0) / fleet.step_s)
        if tick in pub.published:
            out.append(ts - pub.published[tick])
    return out


def _onset(v: dict[str, Any]) -> float:
    from datetime import datetime

    raw = v.get("onset") or v.get("issued_at")
    return datetime.fromisoformat(raw).timestamp() if raw else 0.0


def topology(path: Path, services: int, group: int = 10) -> Path:
    lines = ["services:"]
    for s in range(services):
        g = s // group
        deps = [f"svc-{d:05d}" for d in range(g * group + 1, min(services, (g + 1) * group))]
        dep = f", depends_on: [{', '.join(deps)}]" if s % group == 0 and deps else ""
        lines.append(f"  - {{name: svc-{s:05d}, tier: 2, replicas: 4, domain: d{g:03d}{dep}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description="stream worker throughput and latency")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--instances", type=int, default=16)
    ap.add_argument("--inject-at", type=int, default=260, help="tick of the first shift "
                    "(after the detectors' 200-sample warm-up)")  # fmt: skip
    ap.add_argument("--points", type=int, default=3_000_000, help="preload size")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--share", type=float, default=0.5, help="latency phase rate / detect rate")
    ap.add_argument("--live", type=float, default=60.0, help="latency phase seconds")
    ap.add_argument("--anomalous", type=float, default=0.1)
    ap.add_argument("--pipeline-rate", type=float, default=None, help="points/s (default: share)")
    ap.add_argument("--pipeline", type=float, default=60.0, help="pipeline phase seconds")
    ap.add_argument("--cpu", default="1", help="core the worker is pinned to ('' for none)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.points, args.live, args.pipeline, args.services = 1_000_000, 30.0, 30.0, 40
    base = {"SETPOINT_BROKER": os.environ.get("SETPOINT_BROKER", "127.0.0.1:19092")}
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    fleet = Fleet(args.services, args.metrics, args.instances)
    ppm = fleet.points_per_batch

    # 1-2: preload, raw ceiling, detect drain
    run = Run(base, "drain", args.partitions)
    pub = Publisher(run.settings, fleet)
    t = time.perf_counter()
    pub.run(0, points=args.points)
    report["publish_eps"] = pub.points / (time.perf_counter() - t)
    read_s = raw_ceiling(run.settings, pub.messages, decode=False)
    dec_s = raw_ceiling(run.settings, pub.messages, decode=True)
    report["raw_read_eps"] = pub.points / read_s
    report["raw_decode_eps"] = pub.points / dec_s
    prof = run.data / "detect.prof" if args.profile else None
    wid = run.worker(args.cpu, prof, SETPOINT_AGENTS="detect")
    secs, cpu, n = drain(run, wid, pub.messages)
    report["detect_eps"] = n * ppm / secs
    report["detect_cpu_us_per_event"] = cpu / (n * ppm) * 1e6
    report["detect_cpu_share"] = cpu / secs
    report["detect_rss_mb"] = run.status(wid).get("rss_bytes", 0) / 1e6
    run.stop()
    if prof is not None:
        report["profile"] = str(prof)

    # 3: latency at a share of the detect rate
    rate = args.share * report["detect_eps"]
    run = Run(base, "latency", args.partitions)
    wid = run.worker(args.cpu, None, SETPOINT_AGENTS="detect")
    run.wait_ready(wid)
    watch = Watch(run.settings, [ANOMALIES])
    warm = Fleet(args.services, args.metrics, args.instances, anomalous=args.anomalous,
                 inject_at=args.inject_at)  # fmt: skip
    args.live = max(args.live, (args.inject_at + 80) * fleet.points_per_tick / rate)
    pub = Publisher(run.settings, warm)
    pub.run(rate, duration_s=args.live)
    sent = pub.messages
    t_end = time.monotonic()
    while run.status(wid).get("counters", {}).get("in.telemetry.metrics", 0) < sent:
        if time.monotonic() - t_end > 60:
            break
        time.sleep(0.1)
    report["latency_lag_s"] = time.monotonic() - t_end
    time.sleep(2.0)
    watch.stop()
    lat = first_after(watch.rows, "anomalies", pub.injections, "service")
    report["latency_rate_eps"] = pub.points / args.live
    report["latency_injected"] = len(pub.injections)
    report["latency_detected"] = len(lat)
    report["publish_to_anomaly_p50_s"] = pct(lat, 0.5)
    report["publish_to_anomaly_p99_s"] = pct(lat, 0.99)
    own = from_firing_sample(watch.rows, pub.injections, pub, warm)
    report["firing_sample_to_anomaly_p50_s"] = pct(own, 0.5)
    report["firing_sample_to_anomaly_p99_s"] = pct(own, 0.99)
    report["tick_s"] = fleet.points_per_tick / rate
    report["latency_cpu_share"] = run.status(wid).get("cpu_s", 0.0) / max(1.0, args.live)
    run.stop()

    # 4: the whole pipeline
    prate = args.pipeline_rate or rate
    run = Run(base, "pipeline", args.partitions)
    topo = topology(run.data / "topology.yaml", args.services)
    wid = run.worker(args.cpu, None, SETPOINT_TOPOLOGY_PATH=str(topo))
    run.wait_ready(wid)
    watch = Watch(run.settings, [ANOMALIES, COMMANDS])
    sick = Fleet(args.services, args.metrics, args.instances, anomalous=args.anomalous,
                 inject_at=args.inject_at)  # fmt: skip
    args.pipeline = max(args.pipeline, (args.inject_at + 150) * fleet.points_per_tick / prate)
    pub = Publisher(run.settings, sick)
    st0 = run.status(wid)
    pub.run(prate, duration_s=args.pipeline)
    sent = pub.messages
    t_end = time.monotonic()
    while run.status(wid).get("counters", {}).get("in.telemetry.metrics", 0) < sent:
        if time.monotonic() - t_end > 120:
            break
        time.sleep(0.1)
    report["pipeline_lag_s"] = time.monotonic() - t_end
    time.sleep(5.0)
    watch.stop()
    st = run.status(wid)
    report["pipeline_rate_eps"] = pub.points / args.pipeline
    report["pipeline_cpu_share"] = (st.get("cpu_s", 0) - st0.get("cpu_s", 0)) / (
        args.pipeline + report["pipeline_lag_s"]
    )
    cmds = first_after(watch.rows, "commands", pub.injections, "target")
    report["pipeline_injected"] = len(pub.injections)
    report["pipeline_anomalies"] = sum(1 for n, _, _ in watch.rows if n == "anomalies")
    report["pipeline_commands"] = sum(1 for n, _, _ in watch.rows if n == "commands")
    report["onset_to_command_p50_s"] = pct(cmds, 0.5)
    report["onset_to_command_p99_s"] = pct(cmds, 0.99)
    report["pipeline_counters"] = {
        k: v for k, v in st.get("counters", {}).items() if not k.startswith("out.ledger")
    }
    run.stop()
    _print(report)
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if args.profile:
        print(f"\nprofile of the detect worker ({report['profile']}), by own time:")
        pstats.Stats(report["profile"]).sort_stats("tottime").print_stats(25)


def _print(r: dict[str, Any]) -> None:
    ceiling = r["raw_decode_eps"]
    rows = [
        ("publish (load generator, as fast as possible)", r["publish_eps"], ""),
        ("raw ceiling: bare consumer, read only", r["raw_read_eps"], ""),
        ("raw ceiling: bare consumer, read + decode", ceiling, "1.00"),
        ("detect stage, one worker on one core", r["detect_eps"],
         f"{r['detect_eps'] / ceiling:.2f}"),
        (f"latency phase (offered {r['latency_rate_eps']:,.0f}/s)", r["latency_rate_eps"],
         f"{r['latency_rate_eps'] / ceiling:.2f}"),
        (f"whole pipeline (offered {r['pipeline_rate_eps']:,.0f}/s)", r["pipeline_rate_eps"],
         f"{r['pipeline_rate_eps'] / ceiling:.2f}"),
    ]  # fmt: skip
    print("| phase | events/s | / raw ceiling |\n|---|---|---|")
    for name, eps, ratio in rows:
        print(f"| {name} | {eps:,.0f} | {ratio} |")
    print()
    print(
        f"detect: {r['detect_cpu_us_per_event']:.1f} us CPU per event, "
        f"{r['detect_cpu_share']:.0%} of its core while draining, "
        f"RSS {r['detect_rss_mb']:.0f} MB"
    )
    print(
        f"publish -> anomaly: p50 {r['publish_to_anomaly_p50_s']:.2f}s, "
        f"p99 {r['publish_to_anomaly_p99_s']:.2f}s ({r['latency_detected']} of "
        f"{r['latency_injected']} shifted services detected; caught up "
        f"{r['latency_lag_s']:.1f}s after the last publish)"
    )
    print(
        f"  of which the pipeline's own: p50 {r['firing_sample_to_anomaly_p50_s']:.2f}s, "
        f"p99 {r['firing_sample_to_anomaly_p99_s']:.2f}s from the publish of the tick the "
        f"anomaly was raised at (the rest is the alert waiting for confirming samples, one tick = "
        f"{r['tick_s']:.2f}s apart at this rate)"
    )
    print(f"fault onset -> command: p50 {r['onset_to_command_p50_s']:.2f}s, "
          f"p99 {r['onset_to_command_p99_s']:.2f}s ({r['pipeline_commands']} commands, "
          f"{r['pipeline_anomalies']} anomaly messages for {r['pipeline_injected']} faults; "
          f"caught up {r['pipeline_lag_s']:.1f}s after the last publish; "
          f"{r['pipeline_cpu_share']:.0%} of the core)")  # fmt: skip
    print(f"pipeline counters: {r['pipeline_counters']}")
    _ = statistics


if __name__ == "__main__":
    main()
