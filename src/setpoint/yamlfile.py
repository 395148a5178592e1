"""Validated YAML configuration: parse text into a pydantic model, and on failure raise an error
that names the file, the line and the field. Pure: callers read the file."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from setpoint.errors import _FileLocatedError

M = TypeVar("M", bound=BaseModel)


def load_model(
    text: str, path: str, model: type[M], error: type[_FileLocatedError], **ctx: Any
) -> M:
    """Parse ``text`` (the content of ``path``) as YAML into ``model``.

    Examples
    --------
    >>> from pydantic import BaseModel
    >>> from setpoint.errors import PolicyFileError
    >>> class P(BaseModel):
    ...     name: str
    ...     size: int
    >>> load_model("name: a\\nsize: 3\\n", "p.yaml", P, PolicyFileError).size
    3
    >>> load_model("name: a\\nsize: big\\n", "p.yaml", P, PolicyFileError)
    Traceback (most recent call last):
    ...
    setpoint.errors.PolicyFileError: p.yaml:2: size: Input should be a valid integer, ...
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise error(f"not valid YAML: {exc}", path=path, line=line) from exc
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context=ctx or None)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or None
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        msg = f"{first['msg']}{more}"
        raise error(msg, path=path, line=line_of(node, loc), field=field) from exc


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if nxt is None:
                return best
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return best
            node = node.value[part]
        else:
            return best
        best = node.start_mark.line + 1
    return best
