"""``setpoint fleet run SCENARIO``: the simulated fleet, live on Kafka with its control API;
``setpoint fleet check FILES...``: validate scenario files."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("fleet", help="run the simulated fleet, or check scenario files")
    s = p.add_subparsers(dest="fleet_command", required=True)
    r = s.add_parser("run", help="run a scenario live: telemetry to Kafka, control API on HTTP")
    r.add_argument("scenario", type=Path, help="a scenario file (scenarios/*.yaml)")
    r.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    r.add_argument("--speed", type=float, default=None, help="simulated seconds per second")
    r.add_argument(
        "--keep-running", action="store_true", help="do not stop at the end of the scenario"
    )
    r.add_argument(
        "--fast-forward",
        type=float,
        default=0.0,
        metavar="S",
        help="play the first S simulated seconds at once, as history, then run live",
    )
    r.add_argument(
        "--no-create-topics", action="store_true", help="do not create missing telemetry topics"
    )
    r.set_defaults(func=_run)
    c = s.add_parser("check", help="validate scenario files and summarise them")
    c.add_argument("files", type=Path, nargs="+")
    c.set_defaults(func=_check)


def _run(args: argparse.Namespace) -> int:
    from setpoint.settings import Settings
    from setpoint.sim.runner import FleetRunner, ensure_telemetry_topics
    from setpoint.sim.scenario import load_scenario

    settings = Settings()
    scenario = load_scenario(args.scenario)
    if not args.no_create_topics:
        for name in ensure_telemetry_topics(settings):
            print(f"fleet: created topic {name}")
    runner = FleetRunner(
        settings, scenario, args.seed, args.speed,
        stop_at_end=not args.keep_running, observer=_say, fast_forward_s=args.fast_forward,
    )  # fmt: skip
    speed = runner.clock.speed
    minutes = scenario.duration_s / 60.0
    print(
        f"fleet: {scenario.name} ({len(scenario.fleet.services)} services, {minutes:.0f} simulated "
        f"min) at {speed:g}x, control API on {settings.fleet_url}; Ctrl-C stops"
    )
    try:
        runner.run()
    finally:
        print(f"fleet: stopped; {runner.produced} events delivered, {runner.failed} failed")
    return 0 if runner.failed == 0 else 1


def _say(line: str) -> None:
    print(f"{datetime.now(UTC).strftime('%H:%M:%S')} fleet: {line}", flush=True)


def _check(args: argparse.Namespace) -> int:
    from setpoint.sim.scenario import load_scenario

    for path in args.files:
        sc = load_scenario(path)
        faults = ", ".join(
            f"{f.fault} on {f.service} at {f.at:g}s -> "
            + (" or ".join(str(v) for v in f.expect.fixed_by) or "escalate")
            for f in sc.faults()
        )
        print(f"{path}: ok: {sc.name}, {sc.duration_s:g}s, {faults or 'no faults'}")
    return 0
