"""The declared topology: services, their tiers, failure domains and dependencies (YAML in Git)."""

from __future__ import annotations

from typing import Annotated

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from setpoint.errors import TopologyFileError
from setpoint.schemas.base import ServiceName
from setpoint.yamlfile import load_model


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceDecl(_Frozen):
    name: ServiceName
    tier: Annotated[int, Field(ge=0, le=9)] = 2
    domain: ServiceName = "default"
    replicas: Annotated[int, Field(ge=0)] = 1
    depends_on: list[ServiceName] = []
    """Services this one calls (edges caller -> callee)."""


class Topology(_Frozen):
    """A validated topology file.

    Examples
    --------
    >>> t = Topology.from_text("services:\\n  - name: web\\n    depends_on: [db]\\n  - name: db\\n")
    >>> sorted(t.graph().edges())
    [('web', 'db')]
    """

    services: list[ServiceDecl] = []

    @model_validator(mode="after")
    def _known(self) -> Topology:
        names = {s.name for s in self.services}
        for s in self.services:
            missing = [d for d in s.depends_on if d not in names]
            if missing:
                msg = f"{s.name} depends on undeclared service(s) {missing}"
                raise ValueError(msg)
        return self

    @classmethod
    def from_text(cls, text: str, path: str = "<topology>") -> Topology:
        return load_model(text, path, cls, TopologyFileError)

    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        for s in self.services:
            g.add_node(s.name, tier=s.tier, domain=s.domain, replicas=s.replicas)
            for d in s.depends_on:
                g.add_edge(s.name, d)
        return g

    def domains(self) -> dict[str, str]:
        return {s.name: s.domain for s in self.services}
