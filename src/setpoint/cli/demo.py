"""``setpoint demo``: the whole loop, live, on a simulated fleet through a real Kafka broker.

Starts the stream worker, the actuator and the fleet as real processes on a fresh set of topics,
runs the ledger sink in this process (the embedded ClickHouse allows one process per data path),
prints the timeline as the stages write it, plays the approving human when a gate asks, and ends
with a summary per incident and the commands to query the ledger."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from setpoint.cli.ledger_cmd import format_table
from setpoint.cli.timeline import Timeline, summarise
from setpoint.ledger import LedgerStore
from setpoint.schemas import LedgerEvent
from setpoint.settings import Settings
from setpoint.streams import approvals
from setpoint.streams.admin import delete_topics, ensure_topics, wait_for_broker
from setpoint.streams.sink import LedgerSink

APPROVER = "demo-operator"
_SCENARIOS = {"sim": Path("scenarios/demo.yaml"), "local": Path("scenarios/local/demo.yaml")}


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole loop live on a simulated fleet")
    p.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="default: scenarios/demo.yaml (sim), scenarios/local/demo.yaml (local)",
    )
    p.add_argument(
        "--fleet",
        choices=("sim", "local"),
        default="sim",
        help="the simulated fleet, or real local processes (real time: ~17 min)",
    )
    p.add_argument("--speed", type=float, default=50.0, help="simulated seconds per second")
    p.add_argument(
        "--fast-forward",
        type=float,
        default=3300.0,
        metavar="S",
        help="simulated seconds of history played at once before the live part",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep-topics", action="store_true", help="do not delete the run's topics")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    base = Settings()
    run = time.strftime("%Y%m%d%H%M%S")
    env = {
        "SETPOINT_TOPIC_PREFIX": f"demo.{run}.",
        "SETPOINT_APP_ID": f"setpoint-demo-{run}",
        "SETPOINT_DATA_DIR": str(base.data_dir.resolve()),
        **_fleet_env(args),
    }
    os.environ.update(env)
    settings = Settings()
    wait_for_broker(settings, timeout_s=20)
    ensure_topics(settings)
    store = LedgerStore(settings.resolved_ledger_dsn(), settings.ledger_database,
                        settings.ledger_retention_days)  # fmt: skip
    store.migrate()
    demo = _Demo(settings, args, store)
    try:
        return demo.run()
    finally:
        demo.shutdown()
        if not args.keep_topics:
            delete_topics(settings)


def _fleet_env(args: argparse.Namespace) -> dict[str, str]:
    """What the local fleet changes: the backend, where its control API is, its topology."""
    args.scenario = args.scenario or _SCENARIOS[args.fleet]
    if args.fleet == "sim":
        return {}
    return {"SETPOINT_BACKEND": "local",
            "SETPOINT_FLEET_URL": os.environ.get("SETPOINT_FLEET_URL", "http://127.0.0.1:18620"),
            "SETPOINT_TOPOLOGY_PATH": os.environ.get("SETPOINT_TOPOLOGY_PATH",
                                                     "config/local/topology.yaml")}  # fmt: skip


def _fleet_args(args: argparse.Namespace) -> list[str]:
    if args.fleet == "local":  # real processes run in real time: no speed, no fast-forward
        return ["localfleet", "run", str(args.scenario)]
    fleet = ["fleet", "run", str(args.scenario), "--speed", str(args.speed),
             "--fast-forward", str(args.fast_forward), "--no-create-topics"]  # fmt: skip
    if args.seed is not None:
        fleet += ["--seed", str(args.seed)]
    return fleet


class _Demo:
    def __init__(self, settings: Settings, args: argparse.Namespace, store: LedgerStore) -> None:
        self.settings = settings
        self.args = args
        self.store = store
        self.sink = LedgerSink(settings, store, batch_wait_s=0.3)
        self.sink_thread = threading.Thread(target=self.sink.run, name="sink", daemon=True)
        self.timeline = Timeline(settings, on_event=self._on_event)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logdir = settings.data_dir / "logs"
        self.truth: list[dict[str, Any]] = []

    def run(self) -> int:
        print(f"setpoint demo: topics {self.settings.topic_prefix}*, ledger "
              f"{self.settings.resolved_ledger_dsn()}, logs in {self.logdir}/")  # fmt: skip
        self.sink_thread.start()
        self.timeline.start()
        self._spawn("worker", "worker")
        self._spawn("actuator", "actuator")
        self._spawn("fleet", *_fleet_args(self.args))
        interrupted = self._wait_for_fleet()
        self._settle()
        self._summary()
        return 130 if interrupted else 0

    def _spawn(self, name: str, *args: str) -> None:
        self.logdir.mkdir(parents=True, exist_ok=True)
        with (self.logdir / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "setpoint.cli", *args], stdout=log,
                stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True,
            )  # fmt: skip

    def _wait_for_fleet(self) -> bool:
        fleet = self.procs["fleet"]
        try:
            while fleet.poll() is None:
                time.sleep(0.5)
                self._check_alive()
                self.truth = self._fetch_truth() or self.truth
        except KeyboardInterrupt:
            print("\nsetpoint demo: interrupted; stopping cleanly...")
            return True
        return False

    def _check_alive(self) -> None:
        for name in ("worker", "actuator"):
            code = self.procs[name].poll()
            if code is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace")[-2000:]
                msg = f"the {name} process exited with code {code}:\n{tail}"
                raise SystemExit(msg)

    def _fetch_truth(self) -> list[dict[str, Any]]:
        try:
            url = self.settings.fleet_url.rstrip("/") + "/truth"
            with urllib.request.urlopen(url, timeout=2) as r:
                raw = json.loads(r.read())
        except OSError:
            return []
        faults = raw.get("faults", []) if isinstance(raw, dict) else []
        return [{"start": f["onset"], **f["expect"]} for f in faults]

    def _on_event(self, ev: LedgerEvent) -> None:
        if ev.event_type == "approval.requested":
            threading.Thread(target=self._approve, args=(ev.entity_id,), daemon=True).start()

    def _approve(self, approval_id: str) -> None:
        # The demo plays the on-call human: what `setpoint approvals approve ID` would do.
        time.sleep(2.0)
        req = approvals.find(self.settings, approval_id)
        if req is not None:
            approvals.decide(self.settings, req, True, APPROVER, "approved in the demo")

    def _settle(self) -> None:
        deadline = time.monotonic() + 15
        last = -1
        while time.monotonic() < deadline:
            n = self.sink.stats.inserted
            if n == last:
                break
            last = n
            time.sleep(2.0)

    def _summary(self) -> None:
        rows = summarise(self.timeline.events, self.truth)
        print("\nIncidents")
        header = ["incident", "truth", "diagnosis", "action", "outcome", "right?", "TTD", "TTR"]
        print(format_table(header, rows, max_width=48))
        incs = [r[0] for r in rows]
        print(
            f"\nLedger: {self.sink.stats.inserted} entries in {self.settings.resolved_ledger_dsn()}"
        )
        print("Query it (after the demo, the embedded engine is free again):")
        if incs:
            print(f"  .venv/bin/setpoint ledger show {incs[0]}")
        print(
            '  .venv/bin/setpoint ledger query "SELECT incident_id, count() FROM setpoint.ledger '
            'GROUP BY incident_id"'
        )
        print("  .venv/bin/setpoint ledger verify")

    def shutdown(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.timeline.stop()
        self.sink.stop()
        self.sink_thread.join(timeout=30)
        self.store.close()
