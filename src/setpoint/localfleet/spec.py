"""The declared shape of a local fleet and of a scenario played on it (YAML, validated; errors
name the file, the line and the field).

A fleet file lists the services (replicas, version, dependencies, cache, capacity, regions), the
releases (what each version does: a good one and a configurable bad one), the load and where
ports come from. A scenario adds a timeline of faults, each with its ground truth, played
``warmup_s`` after the fleet starts (so the detectors have learned it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from setpoint.errors import ScenarioFileError
from setpoint.schemas import FaultClass, Verb
from setpoint.schemas.base import ServiceName
from setpoint.yamlfile import load_model

Region = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
Version = Annotated[str, Field(min_length=1, max_length=64)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Release(_Frozen):
    """What a version does when it runs."""

    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    latency_factor: Annotated[float, Field(ge=0.1, le=50.0)] = 1.0
    message: str = ""
    """The exception its failing requests log."""


class ServiceSpec(_Frozen):
    """One service of the local fleet."""

    replicas: Annotated[int, Field(ge=1, le=16)] = 2
    max_replicas: Annotated[int, Field(ge=1, le=32)] = 6
    version: Version = "1.4.2"
    previous_version: Version | None = None
    depends_on: list[ServiceName] = Field(default_factory=list)
    cache: bool = False
    auth: bool = False
    """Whether it checks the credentials its callers present."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    """Requests one replica works on at once (its capacity is ``concurrency / work_ms``)."""
    work_ms: Annotated[float, Field(ge=0.0, le=5000.0)] = 5.0
    regions: list[Region] | None = None
    cert_valid_days: Annotated[float, Field(gt=0.0, le=825.0)] = 30.0
    credential_valid_days: Annotated[float, Field(gt=0.0, le=825.0)] = 30.0


class LoadSpec(_Frozen):
    entry: ServiceName = "frontend"
    """Where user requests arrive."""
    rps: Annotated[float, Field(gt=0.0, le=200.0)] = 4.0
    probe_rps: Annotated[float, Field(ge=0.0, le=50.0)] = 1.0
    """Synthetic requests per second sent to every service (blackbox probing)."""
    keys: Annotated[int, Field(ge=1, le=10000)] = 20
    """Distinct items requested (the cache's working set)."""


class LocalFleetSpec(_Frozen):
    """A whole local fleet.

    Examples
    --------
    >>> f = LocalFleetSpec(services={"web": {"depends_on": ["db"]}, "db": {}},
    ...                    load={"entry": "web"})
    >>> LocalFleetSpec(services={"web": {"version": "9"}}, load={"entry": "web"})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for LocalFleetSpec
      Value error, service web: version '9' is not among the releases ...
    >>> f.regions_of("db"), f.call_order()
    (['eu', 'us'], ['web', 'db'])
    """

    name: str = "local"
    regions: Annotated[list[Region], Field(min_length=1, max_length=4)] = ["eu", "us"]
    sample_interval_s: Annotated[float, Field(ge=0.2, le=60.0)] = 1.0
    window_s: Annotated[float, Field(ge=1.0, le=120.0)] = 5.0
    """Measurements are over a sliding window this long (more requests per sample)."""
    health_interval_s: Annotated[float, Field(ge=0.5, le=60.0)] = 2.0
    ports: tuple[int, int] = (18621, 18699)
    """The range proxies and replicas listen in."""
    load: LoadSpec = LoadSpec()
    releases: dict[Version, Release] = Field(default_factory=lambda: {"1.4.2": Release()})
    services: Annotated[dict[ServiceName, ServiceSpec], Field(min_length=1, max_length=16)]

    @model_validator(mode="after")
    def _references(self) -> LocalFleetSpec:
        for name, svc in self.services.items():
            for dep in svc.depends_on:
                if dep not in self.services:
                    msg = f"service {name} depends on unknown service {dep!r}"
                    raise ValueError(msg)
            for r in svc.regions or []:
                if r not in self.regions:
                    raise ValueError(f"service {name}: unknown region {r!r}")
            for v in (svc.version, svc.previous_version):
                if v is not None and v not in self.releases:
                    raise ValueError(f"service {name}: version {v!r} is not among the releases")
        if self.load.entry not in self.services:
            raise ValueError(f"load.entry: unknown service {self.load.entry!r}")
        return self

    def regions_of(self, name: str) -> list[str]:
        return list(self.services[name].regions or self.regions)

    def call_order(self) -> list[str]:
        """Callers before callees (services are started in reverse: callees first)."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            for caller, svc in self.services.items():
                if name in svc.depends_on:
                    visit(caller)
            order.append(name)

        for name in self.services:
            visit(name)
        return order


class Truth(_Frozen):
    root: ServiceName
    fault_class: FaultClass
    fixed_by: list[Verb]


class FaultEntry(_Frozen):
    """One fault of a scenario's timeline (``params`` as the fault class takes them)."""

    fault: Literal[
        "bad_deploy",
        "memory_leak",
        "saturation",
        "poisoned_cache",
        "expired_certificate",
        "expired_credential",
        "dependency_outage",
        "novel",
    ]
    service: ServiceName
    at: Annotated[float, Field(ge=0.0)]
    """Seconds after the warm-up."""
    params: dict[str, Any] = Field(default_factory=dict)
    expect: Truth


class _Scenario(_Frozen):
    name: str
    description: str = ""
    warmup_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 240.0
    duration_s: Annotated[float, Field(gt=0.0, le=7200.0)] = 900.0
    """Seconds after the warm-up until the run ends."""
    timeline: list[FaultEntry] = Field(default_factory=list)


class _ScenarioFile(_Scenario):
    fleet: str
    """The path of a fleet file, relative to the scenario file."""


class LocalScenario(_Scenario):
    """A local fleet and the faults to play on it."""

    fleet: LocalFleetSpec

    @property
    def spec(self) -> LocalFleetSpec:
        return self.fleet

    @model_validator(mode="after")
    def _services(self) -> LocalScenario:
        for k, f in enumerate(self.timeline):
            if f.service not in self.fleet.services:
                raise ValueError(f"timeline.{k}: unknown service {f.service!r}")
        return self


def load_scenario(path: Path) -> LocalScenario:
    """Read a local scenario file; ``fleet:`` is inline or the path of a fleet file.

    Examples
    --------
    >>> sc = load_scenario(Path("scenarios/local/demo.yaml"))
    >>> sc.spec.load.entry, [f.fault for f in sc.timeline][:2]
    ('frontend', ['bad_deploy', 'expired_certificate'])
    """
    import yaml

    text = _read(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None  # load_model says where
    if not (isinstance(raw, dict) and isinstance(raw.get("fleet"), str)):
        return load_model(text, str(path), LocalScenario, ScenarioFileError)
    ref = load_model(text, str(path), _ScenarioFile, ScenarioFileError)
    fpath = (path.parent / ref.fleet).resolve()
    fleet = load_fleet(fpath)
    try:
        return LocalScenario.model_validate({**ref.model_dump(), "fleet": fleet})
    except ValueError as exc:
        raise ScenarioFileError(str(exc), path=str(path), field="timeline") from exc


def load_fleet(path: Path) -> LocalFleetSpec:
    """Read a local fleet file."""
    return load_model(_read(path), str(path), LocalFleetSpec, ScenarioFileError)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ScenarioFileError(f"cannot read it: {exc.strerror}", path=str(path)) from exc
