"""``setpoint scenarios record`` and ``setpoint scenarios replay``: shadow mode.

``record`` writes a telemetry recording (``suite.recording``) from the real broker or from a
simulated scenario; ``replay`` plays one through the pure stages under a baseline and a candidate
configuration and prints what would have changed (``suite.replay``, ``suite.shadow_diff``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from setpoint.cli.ledger_cmd import format_table
from setpoint.errors import ConfigError, InputError
from setpoint.streams.loading import read_text

_DEFAULT_POLICY = Path("config/policy.yaml")
_DEFAULT_TOPOLOGY = Path("config/topology.yaml")


def register(s: Any) -> None:
    """Add ``record`` and ``replay`` to the ``scenarios`` sub-commands ``s``."""
    r = s.add_parser("record", help="record telemetry (from Kafka or a scenario) for a replay")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-kafka", action="store_true", help="read the telemetry topics")
    src.add_argument("--scenario", type=Path, metavar="FILE", help="simulate a scenario")
    r.add_argument("--since", metavar="ISO", help="--from-kafka: records produced at or after")
    r.add_argument("--until", metavar="ISO", help="--from-kafka: records produced at or before")
    r.add_argument("--seed", type=int, default=None, help="--scenario: its seed")
    r.add_argument(
        "--history",
        type=float,
        default=3600.0,
        metavar="S",
        help="--scenario: quiet history recorded before it (the detectors learn it)",
    )
    r.add_argument("--out", type=Path, required=True, metavar="FILE")
    r.set_defaults(func=_record)

    p = s.add_parser("replay", help="replay a recording under two configurations (shadow)")
    p.add_argument("recording", type=Path, nargs="?", help="a file of `scenarios record`")
    p.add_argument(
        "--from-ledger",
        action="store_true",
        help="instead: re-decide the ledger's incidents under --candidate-policy",
    )
    p.add_argument("--since", metavar="ISO", help="--from-ledger: rows of this event time or later")
    p.add_argument(
        "--until", metavar="ISO", help="--from-ledger: rows of this event time or earlier"
    )
    p.add_argument("--policy", type=Path, default=_DEFAULT_POLICY, help="the baseline policy")
    p.add_argument("--candidate-policy", type=Path, default=None, help="default: --policy")
    p.add_argument("--profile", default="infra", help="the baseline detection profile")
    p.add_argument("--candidate-profile", default=None, help="default: --profile")
    p.add_argument(
        "--topology",
        type=Path,
        default=None,
        help="default: the recording's own, else config/topology.yaml",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the ids the stages draw")
    p.add_argument("--step", type=float, default=5.0, metavar="S", help="batch window")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the report")
    p.add_argument("--fail-on-change", action="store_true", help="exit 1 if anything changed")
    p.set_defaults(func=_replay)


# -- record ------------------------------------------------------------------------------------
def _record(args: argparse.Namespace) -> int:
    from setpoint.suite.recording import build, record_scenario, write_recording

    if args.scenario is not None:
        from setpoint.sim.scenario import load_scenario

        if args.since or args.until:
            raise ConfigError("--since and --until select Kafka records: use --from-kafka")

        sc = load_scenario(args.scenario)
        events = record_scenario(sc, args.seed, history_s=args.history)
        seed = args.seed if args.seed is not None else sc.seed
        topo = str((args.scenario.parent / sc.topology).resolve()) if sc.topology else None
        rec = build(f"scenario {args.scenario} seed {seed}", events, topology=topo)
    else:
        rec = _from_kafka(args)
    write_recording(args.out, rec)
    h = rec.header
    bad = sum(h.bad.values())
    reasons: dict[str, int] = {}
    for d in rec.dead_letters:
        reasons[d.reason_code] = reasons.get(d.reason_code, 0) + 1
    if reasons:
        what = ", ".join(f"{n} {code}" for code, n in sorted(reasons.items()))
        first = rec.dead_letters[0]
        print(
            f"setpoint: note: {bad} bad record(s) ({what}); the first: {first.topic}"
            f"[{first.partition}]@{first.offset}: {first.reason}",
            file=sys.stderr,
        )
    print(
        f"recorded {len(rec.events)} records ({', '.join(f'{k} {v}' for k, v in h.counts.items())})"
        f"{f', {bad} bad (kept as dead letters)' if bad else ''}; {h.first_ts} .. {h.last_ts}"
        f" -> {args.out}"
    )
    return 0


def _from_kafka(args: argparse.Namespace) -> Any:
    from setpoint.schemas import Silence
    from setpoint.settings import Settings
    from setpoint.streams.rangeread import read_range
    from setpoint.streams.topics import SILENCES
    from setpoint.suite.recording import RECORDED_TOPICS, build
    from setpoint.suite.replay import Recorded, event_time

    settings = Settings()
    since, until = _ms(args.since, "--since"), _ms(args.until, "--until")
    got = read_range(settings, [t for t in RECORDED_TOPICS if t is not SILENCES], since, until)
    # Silences are context: every one still in force at --since counts, however old.
    sil = read_range(settings, [SILENCES], None, until)
    got.missing += sil.missing
    got.dead_letters += sil.dead_letters
    got.values += [
        (spec, v)
        for spec, v in sil.values
        if since is None or (isinstance(v, Silence) and v.ends_at.timestamp() * 1000 >= since)
    ]
    if len(got.missing) == len(RECORDED_TOPICS):
        msg = (
            f"no telemetry topic named {settings.topic_prefix}telemetry.* on "
            f"{settings.kafka_bootstrap()} (is SETPOINT_TOPIC_PREFIX right?)"
        )
        raise ConfigError(msg, context={"missing": got.missing})
    for name in got.missing:
        print(
            f"setpoint: note: topic {name} does not exist (nothing recorded from it)",
            file=sys.stderr,
        )
    events = []
    for spec, value in got.values:
        t = event_time(value)
        if t is not None:
            events.append(Recorded(t, spec.name, value))
    source = f"kafka {settings.kafka_bootstrap()} prefix {settings.topic_prefix}"
    return build(source, events, got.dead_letters, since=args.since, until=args.until)


def _ms(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"{flag} {text!r} is not an ISO 8601 time (e.g. 2026-03-02T09:00:00Z)"
        raise InputError(msg, context={"flag": flag}) from exc
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)


# -- replay ------------------------------------------------------------------------------------
def _replay(args: argparse.Namespace) -> int:
    from setpoint.suite.recording import read_recording
    from setpoint.suite.replay import ReplayConfig, shadow
    from setpoint.suite.shadow_diff import diff

    if args.from_ledger:
        return _replay_ledger(args)
    if args.recording is None:
        msg = "replay needs a recording file (setpoint scenarios record), or --from-ledger"
        raise ConfigError(msg)
    rec = read_recording(args.recording)
    baseline = _variant("baseline", args.policy, args.profile)
    candidate = _variant(
        "candidate", args.candidate_policy or args.policy, args.candidate_profile or args.profile
    )
    topology = _topology(args.topology, rec.header.topology)
    config = ReplayConfig(seed=args.seed, step_s=args.step)
    d = diff(*shadow(rec.events, baseline, candidate, topology, config))
    h = rec.header
    source = f"{h.source}; {h.first_ts} .. {h.last_ts}"
    span = (h.first_ts, h.last_ts)
    print(render(str(args.recording), source, len(rec.events), len(rec.dead_letters), d, span))
    if args.json is not None:
        payload = {
            "recording": str(args.recording),
            "header": rec.header.model_dump(),
            **d.to_json(),
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 1 if args.fail_on_change and d.changes else 0


def _variant(name: str, policy_path: Path, profile: str, detect: bool = True) -> Any:
    from setpoint.detectors import PROFILES, DetectionConfig
    from setpoint.policy import Policy
    from setpoint.suite.replay import Variant

    if profile not in PROFILES:
        msg = f"unknown detection profile {profile!r}; known: {', '.join(sorted(PROFILES))}"
        raise ConfigError(msg, context={"profile": profile})
    policy = Policy.from_text(read_text(policy_path, "policy"), str(policy_path))
    if not detect:
        return Variant(name, policy, None, str(policy_path), "-")
    return Variant(name, policy, DetectionConfig.profile(profile), str(policy_path), profile)


def _topology(path: Path | None, recorded: str | None) -> Any:
    from setpoint.causal import Topology

    p = path or (Path(recorded) if recorded else _DEFAULT_TOPOLOGY)
    return Topology.from_text(read_text(p, "topology"), str(p))


def _replay_ledger(args: argparse.Namespace) -> int:
    from setpoint.cli.ledger_cmd import open_store
    from setpoint.settings import Settings
    from setpoint.suite.redecide import recorded, redecide
    from setpoint.suite.replay import ReplayConfig
    from setpoint.suite.shadow_diff import diff

    if args.recording is not None or args.candidate_profile is not None:
        msg = (
            "--from-ledger replays the decide stage only: the ledger holds no raw telemetry "
            "(give no recording and no --candidate-profile)"
        )
        raise ConfigError(msg)
    if args.candidate_policy is None:
        raise ConfigError("--from-ledger needs --candidate-policy (the baseline is the ledger)")
    candidate = _variant("candidate", args.candidate_policy, args.profile, detect=False)
    topology = _topology(args.topology, None)
    settings = Settings()
    store = open_store(settings)
    try:
        events, bad = _ledger_events(store, settings.ledger_database, args.since, args.until)
    finally:
        store.close()
    config = ReplayConfig(seed=args.seed, step_s=args.step)
    d = diff(recorded(events), redecide(events, candidate, topology, config))
    first = events[0].ts.isoformat() if events else None
    last = events[-1].ts.isoformat() if events else None
    where = f"the ledger (database {settings.ledger_database})"
    print(render(where, f"{where}; {first} .. {last}", len(events), bad, d, (first, last)))
    if args.json is not None:
        args.json.write_text(json.dumps({"ledger": where, "bad": bad, **d.to_json()}, indent=1))
    return 1 if args.fail_on_change and d.changes else 0


_LEDGER_TYPES = (
    "incident.",
    "policy.decision",
    "command.issued",
    "action.",
    "verification.",
    "approval.",
    "control.",
    "trust.",
    "escalation",
)


def _ledger_events(
    store: Any, db: str, since: str | None, until: str | None
) -> tuple[list[Any], int]:
    """The ledger rows the decide stage reads or writes, as events; and how many did not
    validate (counted, reported, left in the ledger)."""
    from pydantic import ValidationError

    from setpoint.schemas import LedgerEvent

    lo, hi = _ms(since, "--since"), _ms(until, "--until")
    where = " OR ".join(f"startsWith(event_type, '{t}')" for t in _LEDGER_TYPES)
    sql = (
        f"SELECT event_id, incident_id, ts, stage, event_type, entity_id, service, summary, "
        f"payload FROM {db}.ledger WHERE ({where})"
        + (f" AND ts >= fromUnixTimestamp64Milli({lo})" if lo is not None else "")
        + (f" AND ts <= fromUnixTimestamp64Milli({hi})" if hi is not None else "")
        + " ORDER BY ts, seq"
    )
    events, bad = [], 0
    for row in store.stream(sql):
        ts = row["ts"]  # the engine hands back naive UTC times
        row = {**row, "ts": ts if ts.tzinfo else ts.replace(tzinfo=UTC)}
        try:
            events.append(
                LedgerEvent.model_validate({**row, "payload": json.loads(row["payload"])})
            )
        except (ValidationError, ValueError) as exc:
            bad += 1
            if bad == 1:
                print(
                    f"setpoint: note: ledger row {row['event_id']} skipped: "
                    f"{str(exc).splitlines()[0]}",
                    file=sys.stderr,
                )
    return events, bad


def render(
    title: str,
    source: str,
    records: int,
    bad: int,
    d: Any,
    span: tuple[str | None, str | None],
) -> str:
    """The report ``replay`` prints."""
    lines = [
        f"Shadow replay of {title}",
        f"  source:    {source}; {records} records" + (f", {bad} bad (skipped)" if bad else ""),
    ]
    for run in (d.baseline, d.candidate):
        v = run.variant
        lines.append(
            f"  {v.name + ':':<10} policy {v.policy_label} ({v.policy_hash or '-'}), "
            f"profile {v.profile_label}"
        )
    b, c = d.counts(d.baseline), d.counts(d.candidate)
    rows = [[k, str(b[k]), str(c[k]), _delta(c[k] - b[k])] for k in b]
    lines += ["", format_table(["", "baseline", "candidate", "change"], rows), ""]
    if not d.changes:
        lines.append("No differences: the candidate would have done exactly what the baseline did.")
        return "\n".join(lines)
    lines.append(f"{len(d.changes)} change(s):")
    one_day = span[0] is not None and span[0][:10] == (span[1] or "")[:10]
    fmt = "%H:%M:%S" if one_day else "%m-%d %H:%M:%S"
    for ch in d.changes:
        when = datetime.fromtimestamp(ch.t, UTC).strftime(fmt)
        lines.append(f"  {when}  {ch.service:<12} {ch.label:<28} {ch.detail}")
    return "\n".join(lines)


def _delta(n: int) -> str:
    return f"+{n}" if n > 0 else str(n) if n < 0 else ""
