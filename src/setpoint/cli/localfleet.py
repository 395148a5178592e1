"""``setpoint localfleet run|state|inject|clear|calls``: the local fleet of real processes.

``run`` starts it (telemetry to Kafka, control API on ``SETPOINT_FLEET_URL``) and plays a
scenario's faults; the other commands talk to a running fleet's control API.
"""

from __future__ import annotations

import argparse
import json
import signal
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from setpoint.errors import BackendError, InputError

DEFAULT_SCENARIO = Path("scenarios/local/quiet.yaml")


def register(sub: Any) -> None:
    p = sub.add_parser("localfleet", help="run the local fleet of real processes, or act on it")
    s = p.add_subparsers(dest="localfleet_command", required=True)
    r = s.add_parser("run", help="start the fleet, measure it, publish its telemetry, play faults")
    r.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    r.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where its files live (default: DATA_DIR/localfleet)",
    )
    r.add_argument("--no-kafka", action="store_true", help="measure, but publish nothing")
    r.add_argument("--keep-running", action="store_true", help="do not stop at the end")
    r.set_defaults(func=_run)
    st = s.add_parser("state", help="the state of every service, or of one")
    st.add_argument("service", nargs="?")
    st.set_defaults(func=_state)
    i = s.add_parser("inject", help="inject a fault (bad_deploy, memory_leak, saturation, ...)")
    i.add_argument("fault")
    i.add_argument("service")
    i.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="a parameter of the fault (repeatable), e.g. version=2.0.0",
    )
    i.set_defaults(func=_inject)
    c = s.add_parser("clear", help="end an injected fault")
    c.add_argument("fault_id")
    c.set_defaults(func=_clear)
    s.add_parser("calls", help="every request the control API received").set_defaults(func=_calls)


def _run(args: argparse.Namespace) -> int:
    from setpoint.localfleet.runner import LocalFleetRunner
    from setpoint.localfleet.spec import load_scenario
    from setpoint.settings import Settings
    from setpoint.streams.admin import ensure_topics

    settings = Settings()
    scenario = load_scenario(args.scenario)
    if not args.no_kafka:
        ensure_topics(settings)
    state = args.state_dir or settings.data_dir / "localfleet"
    runner = LocalFleetRunner(
        settings,
        scenario,
        state,
        publish=not args.no_kafka,
        stop_at_end=not args.keep_running,
        observer=_say,
    )
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    try:
        runner.run()
    except KeyboardInterrupt:
        _say("interrupted; stopping every replica")
    finally:
        _say(f"stopped; {runner.produced} events delivered, {runner.failed} failed")
    return 0 if runner.failed == 0 else 1


def _say(line: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} localfleet: {line}", flush=True)


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    from setpoint.settings import Settings

    url = Settings().fleet_url.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read() or b"{}")
        raise InputError(str(answer.get("detail", exc)), context={"status": exc.code}) from exc
    except OSError as exc:
        msg = f"no local fleet answers at {url} ({exc}); start one with: setpoint localfleet run"
        raise BackendError(msg) from exc


def _print(answer: Any) -> None:
    print(json.dumps(answer, indent=2, sort_keys=True))


def _state(args: argparse.Namespace) -> int:
    _print(_call("GET", f"/state/{args.service}" if args.service else "/state"))
    return 0


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise InputError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _inject(args: argparse.Namespace) -> int:
    body = {"fault": args.fault, "service": args.service, "params": _parse_params(args.param)}
    _print(_call("POST", "/faults", body))
    return 0


def _clear(args: argparse.Namespace) -> int:
    _print(_call("DELETE", f"/faults/{args.fault_id}"))
    return 0


def _calls(_args: argparse.Namespace) -> int:
    _print(_call("GET", "/calls"))
    return 0
