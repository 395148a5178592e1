"""The declared topology: a YAML file in Git that names services, what they call and where they run.

The loader takes the file's *text* (reading it is the caller's job) and validates it against a
frozen schema; every error names the file, the line and the field, so a typo in a dependency is
found in review rather than in an incident::

    services:
      - name: frontend
        tier: 1                       # 0 is the most critical
        replicas: 4
        depends_on: [cart, catalogue] # the services it calls
        runs_on: node-1               # optional: the host it runs on
        domain: shop                  # optional: its failure domain
      - name: cart
        depends_on: [carts-db]
      - {name: carts-db, kind: database, runs_on: node-1}
      - {name: catalogue}
      - {name: node-1, kind: host}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import networkx as nx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from setpoint.errors import TopologyFileError
from setpoint.schemas.base import ServiceName

__all__ = ["NodeKind", "ServiceDecl", "Topology", "load_topology"]

NodeKind = Literal["service", "host", "database", "cache", "queue", "external"]
"""What a node is. All but ``service`` are infrastructure: a shared one can be a root cause."""


class ServiceDecl(BaseModel):
    """One node of the topology: a service, or a piece of infrastructure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ServiceName
    kind: NodeKind | None = None
    """Undeclared, it is guessed from the name (``orders-db`` is a database)."""
    tier: Annotated[int, Field(ge=0, le=9)] = 2
    """Criticality, 0 the most critical (the policy envelope reads it)."""
    replicas: Annotated[int, Field(ge=0)] = 1
    depends_on: Annotated[list[ServiceName], Field(max_length=1024)] = Field(default_factory=list)
    """The nodes this one calls (its callees)."""
    runs_on: ServiceName | None = None
    """The host (or node, VM...) it runs on."""
    domain: ServiceName | None = None
    """Its failure domain; undeclared, it is its connected component's (see ``domains``)."""


class Topology(BaseModel):
    """A whole topology file.

    Examples
    --------
    >>> t = Topology.from_text("services:\\n  - {name: web, depends_on: [db]}\\n  - {name: db}\\n")
    >>> sorted(t.graph().edges()), t.domains()
    ([('web', 'db')], {'web': 'default', 'db': 'default'})
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    services: Annotated[list[ServiceDecl], Field(max_length=100_000)] = Field(default_factory=list)

    @classmethod
    def from_text(cls, text: str, path: str = "<topology>") -> Topology:
        """Parse and validate a topology file's text (see :func:`load_topology`)."""
        return load_topology(text, path)

    def graph(self) -> nx.DiGraph:
        """Caller -> callee (and service -> host) edges; nodes carry kind, tier and domain."""
        g = nx.DiGraph()
        for s in self.services:
            g.add_node(s.name, kind=s.kind, tier=s.tier, replicas=s.replicas, domain=s.domain)
        for s in self.services:
            g.add_edges_from((s.name, d) for d in s.depends_on)
            if s.runs_on is not None:
                g.add_edge(s.name, s.runs_on, relation="runs_on")
        return g

    def callers(self) -> dict[str, list[str]]:
        """The declared callers of every declared node.

        Examples
        --------
        >>> t = Topology.from_text("services: [{name: web, depends_on: [db]}, {name: db}]")
        >>> t.callers()
        {'web': [], 'db': ['web']}
        """
        out: dict[str, list[str]] = {s.name: [] for s in self.services}
        for s in self.services:
            for d in s.depends_on:
                out.setdefault(d, []).append(s.name)
        return out

    def domains(self) -> dict[str, str]:
        """The failure domain of every declared node (declared, or its component's)."""
        from setpoint.causal.graph import DependencyGraph

        computed = DependencyGraph.from_topology(self).domains()
        return {s.name: computed[s.name] for s in self.services}

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What is wrong beyond the schema (a node declared twice, an undeclared reference),
        each with where it is."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        for i, s in enumerate(self.services):
            if s.name in seen:
                out.append((("services", i, "name"), f"{s.name!r} is declared twice"))
            seen.add(s.name)
        names = {s.name for s in self.services}
        for i, s in enumerate(self.services):
            refs: list[tuple[tuple[str | int, ...], str]] = [
                (("services", i, "depends_on", j), d) for j, d in enumerate(s.depends_on)
            ]
            if s.runs_on is not None:
                refs.append((("services", i, "runs_on"), s.runs_on))
            out.extend(
                (loc, f"refers to {name!r}, which is not declared under services")
                for loc, name in refs
                if name not in names
            )
        return out


def load_topology(text: str, path: str = "<topology>") -> Topology:
    """Parse and validate a topology file's text.

    Raises
    ------
    TopologyFileError
        The YAML does not parse, does not match the schema, or refers to an undeclared node;
        the error's ``path``, ``line`` and ``field`` say where.

    Examples
    --------
    >>> top = load_topology("services:\\n  - {name: api, depends_on: [db]}\\n  - {name: db}\\n")
    >>> [(s.name, s.depends_on) for s in top.services]
    [('api', ['db']), ('db', [])]
    >>> load_topology("services:\\n  - name: api\\n    depends_on: [dbb]\\n", "top.yaml")
    Traceback (most recent call last):
    ...
    setpoint.errors.TopologyFileError: top.yaml:3: services.0.depends_on.0: refers to 'dbb', \
which is not declared under services
    """
    root = _compose(text, path)
    try:
        data: Any = yaml.safe_load(text)
        top = Topology.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise TopologyFileError(
            err["msg"], path=path, line=_line_of(root, loc), field=_dotted(loc)
        ) from exc
    for loc, msg in top.problems()[:1]:
        raise TopologyFileError(msg, path=path, line=_line_of(root, loc), field=_dotted(loc))
    return top


def _compose(text: str, path: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
        raise TopologyFileError(msg, path=path, line=line) from exc


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node that ``loc`` reaches."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value if isinstance(value, yaml.Node) else key
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
