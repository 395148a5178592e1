"""Scenario files: one YAML file per scenario, validated into frozen models, with errors that name
the file, the line and the field (:class:`~setpoint.errors.ScenarioFileError`).

A scenario declares the fleet (inline, or the path of a shared fleet file), the background load,
a timeline of faults and planned changes, a duration, and for each fault its ground truth (root
service, fault class, the verbs that fix it), checked against what the model really does.
``scenarios/README.md`` documents the format.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

from setpoint.errors import ScenarioFileError
from setpoint.sim.faults import (
    BadDeploy,
    DependencyOutage,
    ExpiredCertificate,
    ExpiredCredential,
    Fault,
    MemoryLeak,
    Novel,
    PlannedChange,
    PoisonedCache,
    Saturation,
    TimelineItem,
    TrafficShift,
)
from setpoint.sim.fleet import Fleet
from setpoint.sim.spec import FleetSpec, LoadProfile

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def _entry_tag(v: Any) -> str | None:
    if isinstance(v, dict):
        fault = v.get("fault")
        if fault is not None:
            return str(fault)
        return next((k for k in ("change", "traffic") if k in v), None)
    if isinstance(v, PlannedChange):
        return "change"
    return "traffic" if isinstance(v, TrafficShift) else getattr(v, "fault", None)


TimelineEntry = Annotated[
    Annotated[BadDeploy, Tag("bad_deploy")]
    | Annotated[MemoryLeak, Tag("memory_leak")]
    | Annotated[Saturation, Tag("saturation")]
    | Annotated[PoisonedCache, Tag("poisoned_cache")]
    | Annotated[ExpiredCertificate, Tag("expired_certificate")]
    | Annotated[ExpiredCredential, Tag("expired_credential")]
    | Annotated[DependencyOutage, Tag("dependency_outage")]
    | Annotated[Novel, Tag("novel")]
    | Annotated[PlannedChange, Tag("change")]
    | Annotated[TrafficShift, Tag("traffic")],
    Discriminator(
        _entry_tag,
        custom_error_type="timeline_entry",
        custom_error_message=(
            "each entry needs 'fault: <class>', 'change: <kind>' or 'traffic: surge|drop'"
        ),
    ),
]


class Scenario(BaseModel):
    """One scenario, as declared in its file.

    Examples
    --------
    >>> sc = Scenario.model_validate({
    ...     "name": "tiny", "duration_s": 300,
    ...     "fleet": {"services": {"api": {"entry_rps": 20, "previous_version": "0.9"}}},
    ...     "timeline": [{"fault": "bad_deploy", "service": "api", "at": 120, "version": "1.1",
    ...                   "expect": {"root": "api", "fault_class": "bad_deploy",
    ...                              "fixed_by": ["rollback_deploy"]}}]})
    >>> fleet = sc.build(seed=3)
    >>> changes = [e for e in fleet.step(fleet.start + 130) if e.kind == "change"]
    >>> [(c.service, c.version, c.previous_version) for c in changes]
    [('api', '1.1', '1.0.0')]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    description: str = ""
    duration_s: Annotated[float, Field(gt=0.0, le=7 * 86400.0)]
    start: AwareDatetime = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
    """Simulated start time of deterministic runs (a live runner starts at the wall clock)."""
    seed: int = 0
    """Default seed."""
    fleet: FleetSpec
    load: LoadProfile = LoadProfile()
    timeline: list[TimelineEntry] = Field(default_factory=list)
    topology: str | None = None
    """The declared topology Setpoint is given for this fleet (a path relative to this file);
    ``None``: the runner's (``config/topology.yaml``, the shop's)."""
    held_out: bool = False
    """Kept aside from tuning: the suite reports it separately, to see whether results carry
    over to scenarios nobody tuned the loop on."""
    tags: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]] = Field(
        default_factory=list
    )
    """Free labels (``overlap``, ``storm``, ``flapping``, ``quiet``...) the report groups by."""

    def faults(self) -> list[Fault]:
        return [e for e in self.timeline if isinstance(e, Fault)]

    def build(
        self,
        seed: int | None = None,
        *,
        start: float | None = None,
        id_prefix: str | None = None,
        history_s: float = 0.0,
    ) -> Fleet:
        """A fresh fleet of this scenario, with its timeline scheduled.

        ``history_s`` seconds of quiet history come first: the fleet starts that much earlier
        and the timeline (offsets from the scenario's start) is moved back by as much, so the
        detectors have learned the fleet by the time the scenario proper begins.
        """
        begin = self.start.timestamp() if start is None else start
        return Fleet(
            self.fleet,
            start=begin - history_s,
            seed=self.seed if seed is None else seed,
            load=self.load,
            timeline=[_later(i, history_s) for i in self.timeline] if history_s else self.timeline,
            id_prefix=id_prefix,
        )

    def problems(self) -> list[tuple[Loc, str]]:
        """What is wrong beyond the schema: unknown names, ground truth the model contradicts."""
        out: list[tuple[Loc, str]] = [(("fleet", *loc), m) for loc, m in self.fleet.problems()]
        services = self.fleet.services
        seen: set[str] = set()
        for k, item in enumerate(self.timeline):
            here: Loc = ("timeline", k)
            if item.service not in services:
                out.append(((*here, "service"), f"unknown service {item.service!r}"))
                continue
            if item.at >= self.duration_s:
                out.append(
                    ((*here, "at"), f"at {item.at:g}s is past the end ({self.duration_s:g}s)")
                )
            if isinstance(item, Fault):
                fid = item.id or f"{item.fault}-{k}"
                if fid in seen:
                    out.append(((*here, "id"), f"duplicate fault id {fid!r}"))
                seen.add(fid)
                out += _truth_problems(self, item, here)
        return out


def _later(item: TimelineItem, by: float) -> TimelineItem:
    return item.model_copy(update={"at": item.at + by})


def _truth_problems(sc: Scenario, f: Fault, here: Loc) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    e = f.expect
    if e.root != f.service:
        out.append(((*here, "expect", "root"), f"root {e.root!r} is not the faulty {f.service!r}"))
    if e.fault_class != type(f).fault_class:
        msg = f"a {f.fault} fault is of class {type(f).fault_class}, not {e.fault_class}"
        out.append(((*here, "expect", "fault_class"), msg))
    wrong = sorted(str(v) for v in set(e.fixed_by) - type(f).remedies)
    if wrong:
        out.append(((*here, "expect", "fixed_by"), f"{wrong} do not fix a {f.fault} here"))
    if not e.fixed_by and type(f).remedies:
        out.append(((*here, "expect", "fixed_by"), f"a {f.fault} fault is fixable: name the verbs"))
    if isinstance(f, DependencyOutage):
        regions = sc.fleet.regions_of(f.service)
        if f.region not in regions:
            out.append(((*here, "region"), f"{f.service} does not run in region {f.region!r}"))
        elif len(regions) < 2:
            out.append(((*here, "region"), f"{f.service} runs in one region: no way around it"))
    if isinstance(f, PoisonedCache) and not sc.fleet.services[f.service].cache:
        out.append(((*here, "service"), f"{f.service} has no cache (set cache: true)"))
    return out


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (and the fleet file it names, if any).

    Raises
    ------
    ScenarioFileError
        Naming the file, the line and the field of the first problem.
    """
    p = Path(path)
    data, node0 = _read(p)
    node: yaml.Node | _Spliced | None = node0
    if isinstance(data, dict) and isinstance(data.get("fleet"), str):
        fleet_path = (p.parent / data["fleet"]).resolve()
        fleet_data, fleet_node = _read(fleet_path, referrer=(p, node0, ("fleet",)))
        _validate(FleetSpec, fleet_data, fleet_path, fleet_node)
        data = {**data, "fleet": fleet_data}
        node = _Spliced(node0, fleet_path, fleet_node)
    sc = _validate(Scenario, data, p, node)
    problems = sc.problems()
    if problems:
        loc, msg = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        file, line = _where(p, node, loc)
        raise ScenarioFileError(msg + more, path=str(file), line=line, field=_dotted(loc))
    if sc.topology is not None:
        topo = (p.parent / sc.topology).resolve()
        if not topo.is_file():
            file, line = _where(p, node, ("topology",))
            msg = f"no topology file at {topo}"
            raise ScenarioFileError(msg, path=str(file), line=line, field="topology")
        sc = sc.model_copy(update={"topology": str(topo)})
    return sc


class _Spliced:
    """The node tree of a scenario whose ``fleet`` lives in another file."""

    def __init__(self, node: yaml.Node | None, fleet_path: Path, fleet_node: yaml.Node | None):
        self.node, self.fleet_path, self.fleet_node = node, fleet_path, fleet_node


def _read(p: Path, referrer: tuple[Path, Any, Loc] | None = None) -> tuple[Any, yaml.Node | None]:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        if referrer is not None:
            file, line = _where(referrer[0], referrer[1], referrer[2])
            msg = f"cannot read the fleet file {p}: {exc.strerror}"
            raise ScenarioFileError(msg, path=str(file), line=line, field="fleet") from exc
        raise ScenarioFileError(f"cannot read: {exc.strerror}", path=str(p)) from exc
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioFileError(f"not valid YAML: {exc}", path=str(p), line=line) from exc


def _validate(model: type[M], data: Any, p: Path, node: Any) -> M:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = _data_loc(data, tuple(first["loc"]))
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        file, line = _where(p, node, loc)
        raise ScenarioFileError(
            first["msg"] + more, path=str(file), line=line, field=_dotted(loc) or None
        ) from exc


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """``loc`` without the union tags pydantic inserts: keep the steps that exist in the data
    (a step to a scalar with more steps after it was a tag, like ``change``), plus a final key.
    """
    out: list[str | int] = []
    last = len(loc) - 1
    for k, part in enumerate(loc):
        if _has(data, part):
            child = data[part]
        elif k == last:
            out.append(part)
            break
        else:
            continue
        if k < last and not isinstance(child, dict | list):
            continue
        data = child
        out.append(part)
    return tuple(out)


def _has(data: Any, part: Any) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def _where(p: Path, node: Any, loc: Loc) -> tuple[Path, int | None]:
    if isinstance(node, _Spliced):
        if loc[:1] == ("fleet",) and len(loc) > 1:
            return node.fleet_path, _line_of(node.fleet_node, loc[1:])
        return p, _line_of(node.node, loc)
    return p, _line_of(node, loc)


def _line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the node at ``loc``, or of its nearest existing parent."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                return best
            best, node = pair[0].start_mark.line + 1, pair[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            return best
    return best


def _dotted(loc: Loc) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
