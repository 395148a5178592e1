"""``setpoint detect --input FILE --output FILE``: score a CSV series online, as the stage would.

Reads ``timestamp,value`` (a header naming both columns; other columns are ignored), writes
``timestamp,value,anomaly_score`` with one row per input row, in input order, even where a
timestamp repeats or goes backwards. Each row's score uses only that row and the rows before it:
the file goes through one :class:`~setpoint.detectors.SeriesMonitor` built from the stage's own
``DetectionConfig``. ``--alerts`` writes the monitor's 0/1 alert decision instead of the score.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from setpoint.detectors import DetectionConfig, registered
from setpoint.errors import CaseFormatError, InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "detect",
        help="score a timestamp,value CSV online (anomaly score or alert decision per row)",
    )
    p.add_argument("--input", required=True, type=Path, help="CSV with timestamp,value columns")
    p.add_argument("--output", required=True, type=Path, help="where to write the scored CSV")
    p.add_argument(
        "--detector",
        default=DetectionConfig().detector,
        help="registered detector name (default: %(default)s)",
    )
    p.add_argument(
        "--alerts", action="store_true", help="write the 0/1 alert decision instead of the score"
    )
    p.set_defaults(func=_detect)


def _detect(args: argparse.Namespace) -> int:
    known = registered()
    if args.detector not in known:
        msg = f"unknown detector {args.detector!r}; known: {', '.join(sorted(known))}"
        raise InputError(msg, context={"detector": args.detector})
    monitor = DetectionConfig(detector=args.detector).new_monitor()
    src: Path = args.input
    dst: Path = args.output
    tmp = dst.with_name(dst.name + ".part")
    try:
        with _open_input(src) as fin, tmp.open("w", newline="") as fout:
            out = csv.writer(fout, lineterminator="\n")
            out.writerow(["timestamp", "value", "anomaly_score"])
            for ts, raw, t, x in _rows(fin, src):
                score = monitor.observe(x, t)
                shown = (1.0 if monitor.firing else 0.0) if args.alerts else score
                out.writerow([ts, raw, repr(shown)])
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return 0


def _open_input(path: Path) -> TextIO:
    try:
        return path.open(newline="", encoding="utf-8")
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise InputError(msg, context={"path": str(path)}) from exc


def _rows(fin: TextIO, path: Path) -> Iterator[tuple[str, str, float, float]]:
    """(timestamp text, value text, unix seconds, value) per data row; errors name the line."""
    reader = csv.reader(fin)
    header = next(reader, None)
    if header is None:
        raise CaseFormatError(f"{path}: empty file (expected a timestamp,value header)")
    cols = [h.strip().lower() for h in header]
    missing = [c for c in ("timestamp", "value") if c not in cols]
    if missing:
        msg = f"{path}:1: header {header} has no {' or '.join(missing)} column"
        raise CaseFormatError(msg, context={"path": str(path), "line": 1})
    it, iv = cols.index("timestamp"), cols.index("value")
    rows = 0
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) <= max(it, iv):
            raise _bad(path, line, f"expected {len(cols)} columns, got {len(row)}")
        yield row[it], row[iv], _parse_time(row[it], path, line), _parse_value(row[iv], path, line)
        rows += 1
    if rows == 0:
        raise CaseFormatError(f"{path}: no data rows after the header")


def _bad(path: Path, line: int, what: str) -> CaseFormatError:
    return CaseFormatError(f"{path}:{line}: {what}", context={"path": str(path), "line": line})


def _parse_value(text: str, path: Path, line: int) -> float:
    try:
        x = float(text)
    except ValueError:
        raise _bad(path, line, f"value {text!r} is not a number") from None
    if not math.isfinite(x):
        raise _bad(path, line, f"value {text!r} is not finite")
    return x


def _parse_time(text: str, path: Path, line: int) -> float:
    """Unix seconds from an ISO 8601 timestamp (naive means UTC) or a number of seconds."""
    s = text.strip()
    try:
        t = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(t):
            raise _bad(path, line, f"timestamp {text!r} is not finite")
        return t
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise _bad(path, line, f"timestamp {text!r} is neither ISO 8601 nor unix seconds") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
