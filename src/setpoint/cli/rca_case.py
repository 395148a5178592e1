"""Reading a benchmark case folder (``metrics.csv``, ``case.json``, optional ``graph.csv``) into
plain values, with errors that name the file and the line.

Format (see ``../shared/bench/README.md``): ``metrics.csv`` is wide, a ``time`` column in unix
seconds then one numeric column per metric (empty or ``nan`` for a missing value);
``case.json`` holds ``inject_time`` and ``columns`` (metric column → service), optionally
``services``; ``graph.csv`` has ``source,target`` rows, caller → callee.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from setpoint.errors import CaseFormatError

__all__ = ["Case", "NameMap", "load_case"]

_MISSING = {"", "nan", "NaN", "NAN", "null", "None"}


@dataclass(frozen=True)
class Case:
    """One case: its series (service, metric) and rows, its onset, its call graph."""

    path: Path
    inject_time: float
    services: tuple[str, ...]
    series: tuple[tuple[str, str], ...]
    """``(service, metric)`` of every metric column, in column order."""
    times: tuple[float, ...]
    rows: tuple[tuple[float, ...], ...]
    """One tuple per row, aligned with ``series`` (``nan`` where missing)."""
    edges: tuple[tuple[str, str], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class NameMap:
    """Reversible mapping of free-form names onto the schema's name pattern.

    Examples
    --------
    >>> names = NameMap(r"[^A-Za-z0-9._:/-]", r"[A-Za-z0-9]", "n")
    >>> names.encode("PGSQL Query_remote"), names.decode("PGSQL_Query_remote")
    ('PGSQL_Query_remote', 'PGSQL Query_remote')
    """

    def __init__(self, bad: str, first: str, prefix: str) -> None:
        self.bad = bad
        self.first = first
        self.prefix = prefix
        self._bad = re.compile(bad)
        self._first = re.compile(first)
        self._to: dict[str, str] = {}
        self._from: dict[str, str] = {}

    def encode(self, raw: str) -> str:
        safe = self._to.get(raw)
        if safe is not None:
            return safe
        base = self._bad.sub("_", raw) or self.prefix
        if not self._first.match(base):
            base = self.prefix + base
        base, safe, n = base[:120], base[:120], 1
        while safe in self._from:
            n += 1
            safe = f"{base}-{n}"
        self._to[raw], self._from[safe] = safe, raw
        return safe

    def decode(self, safe: str) -> str:
        return self._from.get(safe, safe)


def load_case(path: Path) -> Case:
    """Read and check a case folder.

    Raises
    ------
    CaseFormatError
        A file is missing, is not what it should be, or a value in it is not a number; the
        message names the file (and the line and column where there is one).
    """
    if not path.is_dir():
        msg = f"{path}: not a case folder"
        raise CaseFormatError(msg, context={"path": str(path)})
    meta = _read_meta(path / "case.json")
    columns = meta["columns"]
    header, times, rows = _read_metrics(path / "metrics.csv")
    series = tuple(
        (str(columns.get(c) or c.split("_")[0]), _metric_of(c, columns.get(c))) for c in header
    )
    services = tuple(
        dict.fromkeys([*map(str, meta.get("services") or []), *(s for s, _ in series)])
    )
    edges = _read_graph(path / "graph.csv")
    return Case(path, float(meta["inject_time"]), services, series, times, rows, edges, meta)


def _metric_of(column: str, service: str | None) -> str:
    """The metric part of a column: ``carts_cpu`` of service ``carts`` is ``cpu``."""
    if service and column.startswith(service) and len(column) > len(service) + 1:
        return column[len(service) + 1 :]
    return column


def _fail(file: Path, what: str, line: int | None = None) -> CaseFormatError:
    where = f"{file}:{line}" if line is not None else str(file)
    return CaseFormatError(f"{where}: {what}", context={"path": str(file), "line": line})


def _read_meta(file: Path) -> dict[str, Any]:
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(file, "missing (every case needs a case.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(file, f"cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise _fail(file, f"not valid JSON: {exc.msg}", exc.lineno) from exc
    if not isinstance(meta, dict):
        raise _fail(file, "must hold a JSON object")
    t = meta.get("inject_time")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise _fail(file, "field 'inject_time' must be a number (unix seconds)")
    cols = meta.get("columns", {})
    if not isinstance(cols, dict) or not all(isinstance(v, str) for v in cols.values()):
        raise _fail(file, "field 'columns' must map each metric column to a service name")
    meta["columns"] = cols
    return meta


def _read_metrics(file: Path) -> tuple[list[str], tuple[float, ...], tuple[tuple[float, ...], ...]]:
    try:
        with file.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or "time" not in header:
                raise _fail(file, "the header must have a 'time' column", 1)
            ti = header.index("time")
            parsed = [_parse_row(file, reader.line_num, row, header, ti) for row in reader if row]
    except FileNotFoundError:
        raise _fail(file, "missing (every case needs a metrics.csv)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(file, f"cannot be read: {exc}") from exc
    if not parsed:
        raise _fail(file, "has no rows")
    parsed.sort(key=lambda r: r[0])
    names = [h for i, h in enumerate(header) if i != ti]
    return names, tuple(r[0] for r in parsed), tuple(r[1] for r in parsed)


def _parse_row(
    file: Path, line: int, row: list[str], header: list[str], ti: int
) -> tuple[float, tuple[float, ...]]:
    if len(row) != len(header):
        raise _fail(file, f"{len(row)} fields where the header has {len(header)}", line)
    values: list[float] = []
    for i, cell in enumerate(row):
        try:
            v = math.nan if cell.strip() in _MISSING else float(cell)
        except ValueError:
            raise _fail(file, f"column {header[i]!r}: {cell!r} is not a number", line) from None
        values.append(v)
    t = values.pop(ti)
    if not math.isfinite(t):
        raise _fail(file, "the time is missing", line)
    return t, tuple(values)


def _read_graph(file: Path) -> tuple[tuple[str, str], ...]:
    if not file.exists():
        return ()
    try:
        with file.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"source", "target"} <= set(reader.fieldnames):
                raise _fail(file, "the header must be 'source,target' (caller, callee)", 1)
            edges = []
            for row in reader:
                a, b = row.get("source"), row.get("target")
                if not a or not b:
                    raise _fail(file, "each row needs a source and a target", reader.line_num)
                edges.append((a, b))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(file, f"cannot be read: {exc}") from exc
    return tuple(edges)
