"""The declared topology: a YAML file in Git that names services, what they call and where they run.

The loader takes the file's *text* (reading it is the caller's job) and validates it against a
frozen schema; every error names the file, the line and the field, so a typo in a dependency is
found in review rather than in an incident::

    version: 1
    services:
      frontend:
        depends_on: [cart, catalogue]
        runs_on: node-1
        domain: shop
      cart:
        depends_on: [carts-db]
      carts-db: {kind: database, runs_on: node-1}
      catalogue: {}
      node-1: {kind: host}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from setpoint.errors import TopologyFileError
from setpoint.schemas.base import ServiceName

__all__ = ["NodeKind", "NodeSpec", "Topology", "load_topology"]

NodeKind = Literal["service", "host", "database", "cache", "queue", "external"]
"""What a node is. All but ``service`` are infrastructure: a shared one can be a root cause."""


class NodeSpec(BaseModel):
    """One node of the topology."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NodeKind = "service"
    depends_on: Annotated[list[ServiceName], Field(max_length=1024)] = Field(default_factory=list)
    """The nodes this one calls (its callees)."""
    runs_on: ServiceName | None = None
    """The host (or node, VM...) it runs on."""
    domain: ServiceName | None = None
    """Its failure domain; undeclared domains are the graph's connected components."""


class Topology(BaseModel):
    """A whole topology file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    services: Annotated[dict[ServiceName, NodeSpec], Field(max_length=100_000)]

    def references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every node name the file refers to, with where it is referred to."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for name, spec in self.services.items():
            out.extend(
                (("services", name, "depends_on", i), d) for i, d in enumerate(spec.depends_on)
            )
            if spec.runs_on is not None:
                out.append((("services", name, "runs_on"), spec.runs_on))
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
    >>> top = load_topology("services:\\n  api: {depends_on: [db]}\\n  db: {kind: database}\\n")
    >>> top.services["api"].depends_on, top.services["db"].kind
    (['db'], 'database')
    >>> load_topology("services:\\n  api:\\n    depends_on: [dbb]\\n", "top.yaml")
    Traceback (most recent call last):
    ...
    setpoint.errors.TopologyFileError: top.yaml:3: services.api.depends_on.0: refers to 'dbb', \
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
    for loc, name in top.references():
        if name not in top.services:
            msg = f"refers to {name!r}, which is not declared under services"
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
