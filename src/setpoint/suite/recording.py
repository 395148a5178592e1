"""Telemetry recordings: the file ``setpoint scenarios record`` writes and ``replay`` reads.

JSON lines, UTF-8. The first line is the header (:class:`RecordingHeader`: the format, the
source, the time range, the count per topic, the bad records); every other line is one record,
in event-time order::

    {"t": 1772442005.0, "topic": "telemetry.metrics", "value": {...the topic's payload...}}
    {"t": 1772442007.5, "topic": "deadletter", "value": {...a DeadLetter: a record that did not
                                                          decode, with its reason and raw bytes...}}

``topic`` is the topic table's name without the deployment's prefix, and ``value`` is exactly
what goes on that topic (the codec validates it on the way back in). Bad records of the source
are kept as ``deadletter`` lines, so nothing read is lost; a replay counts them and skips them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from setpoint.clock import to_datetime
from setpoint.errors import InputError, RecordingError
from setpoint.schemas import DeadLetter
from setpoint.sim.scenario import Scenario
from setpoint.streams.codec import decode
from setpoint.streams.topics import (
    CHANGES,
    DEADLETTER,
    HEALTHCHECKS,
    LOGS,
    METRICS,
    SILENCES,
    TRACES,
    TopicSpec,
)
from setpoint.suite.replay import Recorded, event_time

__all__ = [
    "FORMAT",
    "RECORDED_TOPICS",
    "Recording",
    "RecordingHeader",
    "read_recording",
    "record_scenario",
    "write_recording",
]

FORMAT: Final = "setpoint.recording/1"

RECORDED_TOPICS: tuple[TopicSpec, ...] = (METRICS, LOGS, TRACES, CHANGES, HEALTHCHECKS, SILENCES)
"""What a recording holds: the telemetry the detect and diagnose stages read, and silences."""

_SPECS = {s.name: s for s in (*RECORDED_TOPICS, DEADLETTER)}


class RecordingHeader(BaseModel):
    """The first line of a recording."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["setpoint.recording/1"] = FORMAT
    source: Annotated[str, Field(max_length=1000)]
    """``kafka <broker> <prefix>`` or ``scenario <file> seed <n>``."""
    since: str | None = None
    """The requested range (ISO 8601, as given), if any."""
    until: str | None = None
    first_ts: str | None = None
    """Event time of the first and the last record (ISO 8601)."""
    last_ts: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    """Good records per topic."""
    bad: dict[str, int] = Field(default_factory=dict)
    """Bad records per topic (kept as ``deadletter`` lines)."""
    topology: str | None = None
    """The topology the source's fleet declares, when known (a scenario's)."""


@dataclass
class Recording:
    header: RecordingHeader
    events: list[Recorded] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


def build(
    source: str,
    events: Iterable[Recorded],
    dead_letters: Iterable[DeadLetter] = (),
    *,
    since: str | None = None,
    until: str | None = None,
    topology: str | None = None,
) -> Recording:
    """A recording of ``events`` (sorted by event time), with its header's counts."""
    evs = sorted(events, key=lambda e: e.t)
    dls = list(dead_letters)
    counts: dict[str, int] = {}
    for e in evs:
        counts[e.topic] = counts.get(e.topic, 0) + 1
    bad: dict[str, int] = {}
    for d in dls:
        bad[d.topic] = bad.get(d.topic, 0) + 1
    header = RecordingHeader(
        source=source,
        since=since,
        until=until,
        first_ts=to_datetime(evs[0].t).isoformat() if evs else None,
        last_ts=to_datetime(evs[-1].t).isoformat() if evs else None,
        counts=dict(sorted(counts.items())),
        bad=dict(sorted(bad.items())),
        topology=topology,
    )
    return Recording(header, evs, dls)


def write_recording(path: Path, rec: Recording) -> None:
    """Write ``rec`` to ``path`` (through a temporary file: a failed write leaves no half file)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(rec.header.model_dump_json().encode() + b"\n")
        for e in rec.events:
            f.write(_line(e.t, e.topic, e.value))
        for d in rec.dead_letters:
            f.write(_line(d.ts.timestamp(), DEADLETTER.name, d))
    tmp.replace(path)


def _line(t: float, topic: str, value: BaseModel) -> bytes:
    return orjson.dumps({"t": t, "topic": topic, "value": value.model_dump(mode="json")}) + b"\n"


def read_recording(path: Path) -> Recording:
    """Read and validate a recording.

    Raises
    ------
    RecordingError
        The file is missing, is not a recording, or a line is malformed (the message names the
        file and the line).
    """
    try:
        f = path.open("rb")
    except OSError as exc:
        msg = f"cannot read recording {path}: {exc.strerror or exc}"
        raise RecordingError(msg, context={"path": str(path)}) from exc
    with f:
        header = _header(path, f.readline())
        rec = Recording(header)
        for n, raw in enumerate(f, start=2):
            if raw.strip():
                _record(rec, path, n, raw)
    return rec


def _header(path: Path, raw: bytes) -> RecordingHeader:
    try:
        return RecordingHeader.model_validate_json(raw)
    except ValidationError as exc:
        msg = f"{path}:1: not a Setpoint recording header ({FORMAT}): {_first(exc)}"
        raise RecordingError(msg, context={"path": str(path), "line": 1}) from exc


def _record(rec: Recording, path: Path, n: int, raw: bytes) -> None:
    where = {"path": str(path), "line": n}
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"{path}:{n}: not valid JSON: {exc}"
        raise RecordingError(msg, context=where) from exc
    if (
        not isinstance(obj, dict)
        or set(obj) != {"t", "topic", "value"}
        or not isinstance(obj["t"], int | float)
    ):
        msg = f'{path}:{n}: a record is {{"t": ..., "topic": ..., "value": ...}}'
        raise RecordingError(msg, context=where)
    spec = _SPECS.get(str(obj["topic"]))
    if spec is None:
        msg = f"{path}:{n}: unknown topic {obj['topic']!r}; known: {', '.join(_SPECS)}"
        raise RecordingError(msg, context=where)
    try:
        value = decode(spec, orjson.dumps(obj["value"]))
    except InputError as exc:
        msg = f"{path}:{n}: {spec.name}: {exc.message}"
        raise RecordingError(msg, context=where) from exc
    if spec is DEADLETTER:
        rec.dead_letters.append(value)
        return
    t = event_time(value)
    rec.events.append(Recorded(t if t is not None else float(obj["t"]), spec.name, value))


_KINDS = {
    "metric": METRICS,
    "metric_batch": METRICS,
    "log": LOGS,
    "span": TRACES,
    "change": CHANGES,
    "health": HEALTHCHECKS,
}
"""The topic of each kind of telemetry the simulated fleet emits (as ``sim.runner`` routes it)."""


def record_scenario(
    scenario: Scenario, seed: int | None = None, history_s: float = 3600.0, step_s: float = 5.0
) -> list[Recorded]:
    """The telemetry ``scenario`` produces under ``seed`` with nothing acting on the fleet: a
    quiet history of ``history_s`` (the detectors learn from it), then the scenario."""
    fleet = scenario.build(seed, history_s=history_s)
    end = fleet.start + history_s + scenario.duration_s
    out: list[Recorded] = []
    t = fleet.start
    while t < end:
        t = min(end, t + step_s)
        for ev in fleet.step(t):
            et = event_time(ev)
            spec = _KINDS[str(getattr(ev, "kind", ""))]
            out.append(Recorded(et if et is not None else t, spec.name, ev))
    return out


def _first(exc: ValidationError) -> str:
    e = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
