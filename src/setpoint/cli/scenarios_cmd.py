"""``setpoint scenarios run FILES...``: the scenario suite, every strategy side by side on the
same runs; ``setpoint scenarios record`` / ``replay``: shadow mode (see ``suite.replay``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from setpoint.cli import shadow_cmd
from setpoint.cli.ledger_cmd import format_table


def register(sub: Any) -> None:
    p = sub.add_parser("scenarios", help="run the scenario suite; record and replay telemetry")
    s = p.add_subparsers(dest="scenarios_command", required=True)
    r = s.add_parser("run", help="run scenarios under strategies and score them")
    r.add_argument("files", type=Path, nargs="+", help="scenario files (or directories of them)")
    r.add_argument(
        "--strategy",
        action="append",
        default=None,
        metavar="NAME",
        help="setpoint, reflex, runbook or human (repeatable; default: all four)",
    )
    r.add_argument(
        "--seed",
        action="append",
        type=int,
        default=None,
        metavar="N",
        help="seed of the runs (repeatable; default: 1)",
    )
    r.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="write every score and the totals as JSON",
    )
    r.add_argument("--jobs", type=int, default=1, help="worker processes (runs are independent)")
    r.add_argument("--policy", type=Path, default=Path("config/policy.yaml"))
    r.add_argument(
        "--topology",
        type=Path,
        default=Path("config/topology.yaml"),
        help="used for scenarios that do not name their own",
    )
    r.add_argument(
        "--history",
        type=float,
        default=3600.0,
        metavar="S",
        help="quiet history played before each scenario (the detectors learn it)",
    )
    r.add_argument(
        "--tail",
        type=float,
        default=3600.0,
        metavar="S",
        help="observation after each scenario's end (a slow strategy finishes)",
    )
    r.add_argument(
        "--detail",
        action="store_true",
        help="also print each scenario's row, wrong actions and violations",
    )
    r.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    r.set_defaults(func=_run)  # fmt: skip
    shadow_cmd.register(s)


def expand(files: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its ``*.yaml`` files (recursively), sorted."""
    out: list[Path] = []
    for f in files:
        out += sorted(f.rglob("*.yaml")) if f.is_dir() else [f]
    return [f for f in out if f.parent.name != "fleets" and not f.name.endswith(".topology.yaml")]


def _run(args: argparse.Namespace) -> int:
    from setpoint.suite.loop import LoopConfig
    from setpoint.suite.report import scenario_rows, summary_rows, totals
    from setpoint.suite.runner import jobs, run_all
    from setpoint.suite.strategies import STRATEGIES

    strategies = args.strategy or list(STRATEGIES)
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        print(f"setpoint: unknown strategy {bad[0]!r}; known: {', '.join(STRATEGIES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    files = expand(args.files)
    todo = jobs(files, strategies, args.seed or [1], args.policy, args.topology,
                LoopConfig(history_s=args.history, tail_s=args.tail))  # fmt: skip
    began = time.monotonic()
    scores = []
    for s in run_all(todo, args.jobs):
        scores.append(s)
        print(f"  {s.scenario} [{s.strategy}, seed {s.seed}]: "
              f"{sum(f.resolved for f in s.of('resolvable'))}/{len(s.of('resolvable'))} resolved,"
              f" {s.wrong_actions} wrong, {s.pages} pages, {len(s.violations)} violations",
              file=sys.stderr, flush=True)  # fmt: skip
    took = time.monotonic() - began
    tots = totals(scores)
    table = _markdown if args.markdown else format_table
    if args.detail:
        print(table(*scenario_rows(scores)))
        _details(scores)
    print(f"\n{len(files)} scenarios x {len(args.seed or [1])} seed(s), {took:.0f} s")
    print(table(*summary_rows(tots)))
    held = [s for s in scores if s.held_out]
    if held and len(held) < len(scores):
        print("\nHeld out (not tuned on):")
        print(table(*summary_rows(totals(held))))
    for t in tots.values():
        if t.missed:
            print(f"\n{t.strategy}: missed")
            print("\n".join(f"  {m}" for m in t.missed))
    if args.json is not None:
        payload = {"scores": [s.to_json() for s in scores],
                   "totals": {k: v.to_json() for k, v in tots.items()}}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


def _details(scores: list[Any]) -> None:
    for s in scores:
        lines = [f"  wrong: {w}" for w in s.wrong] + [f"  violation: {v}" for v in s.violations]
        if lines:
            print(f"\n{s.scenario} [{s.strategy}]")
            print("\n".join(lines))


def _markdown(header: list[str], rows: list[list[str]], max_width: int = 0) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
