"""What a backend sees of one target, in one vocabulary for every backend.

Preconditions, captures and "did it land?" are judged on a :class:`TargetState`, so a verb means
the same thing whatever runs the service; each backend maps what its infrastructure reports into
it (``observe``) and back (``undo``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class InstanceState(BaseModel):
    """One running instance (replica) of a service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    region: str = ""
    version: str | None = None
    pid: int | None = None
    """The operating-system process id, where there is one."""
    started_at: float | None = None
    """When this incarnation started (unix seconds)."""
    up: bool = True

    def incarnation(self) -> tuple[str, int | None, float | None]:
        """What changes when the instance really restarts (a new name, PID or start time)."""
        return (self.name, self.pid, self.started_at)


class TargetState(BaseModel):
    """One service as a backend observes it now.

    Examples
    --------
    >>> s = TargetState(service="api", version="2", previous_version="1", replicas=2,
    ...                 regions=["eu", "us"], traffic={"eu": 0.5, "us": 0.5})
    >>> s.has_cache, s.project(("version", "replicas"))
    (False, {'version': '2', 'replicas': 2})
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str
    version: str | None = None
    previous_version: str | None = None
    replicas: Annotated[int, Field(ge=0)] = 0
    max_replicas: int | None = None
    regions: list[str] = Field(default_factory=list)
    down_regions: list[str] = Field(default_factory=list)
    traffic: dict[str, float] = Field(default_factory=dict)
    """Share of the service's requests sent to each region."""
    cache: str | None = None
    """``None``: no cache; else ``healthy``, ``poisoned``, ``cold`` or ``empty``."""
    cache_generation: int | None = None
    """Bumped by every flush, where the backend can tell."""
    cert_serial: str | None = None
    cert_expires_at: float | None = None
    credential_id: str | None = None
    credential_expires_at: float | None = None
    credential_revoked: bool = False
    instances: list[InstanceState] = Field(default_factory=list)
    busy: bool = False
    """An earlier action on it is still landing (its effect is not all visible yet)."""

    @property
    def has_cache(self) -> bool:
        return self.cache is not None

    @property
    def has_certificate(self) -> bool:
        return self.cert_serial is not None or self.cert_expires_at is not None

    @property
    def has_credential(self) -> bool:
        return self.credential_id is not None or self.credential_expires_at is not None

    def project(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The named fields as JSON-ready values (what is captured before acting)."""
        data = self.model_dump(mode="json")
        return {n: data[n] for n in names}

    def up_regions(self) -> list[str]:
        """Regions with at least one instance up, in declaration order."""
        live = {i.region for i in self.instances if i.up}
        return [r for r in self.regions if r in live and r not in self.down_regions]
