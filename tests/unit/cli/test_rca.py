"""``setpoint rca CASE_DIR``: the benchmark case format in, a ranking out; bad folders exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from setpoint.cli import main

T0 = 1_700_000_000


def write_case(folder: Path, *, graph: bool = True, inject_row: int = 40, rows: int = 44) -> Path:
    """web -> api -> "orders db@primary" (a name the schema would refuse). The database slows
    down at the injection; its callers inherit the delay and, steadier, look worse."""
    folder.mkdir()
    db = "orders db@primary"
    cols = {"web_lat": "web", "api_lat": "api", f"{db}_lat": db, "web_cpu": "web"}
    header = ["time", *cols]
    lines = [",".join(header)]
    for i in range(rows):
        wobble = math.sin(i * 1.7)
        late = i >= inject_row
        values = [
            300 + 2 * wobble + (410 if late else 0),
            150 + 1 * wobble + (405 if late else 0),
            100 + 30 * wobble + (400 if late else 0),
            40 + 3 * wobble,
        ]
        lines.append(",".join([str(T0 + 60 * i), *(f"{v:.3f}" for v in values)]))
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    meta = {"inject_time": T0 + 60 * inject_row, "columns": cols, "services": ["web", "api", db]}
    (folder / "case.json").write_text(json.dumps(meta))
    if graph:
        (folder / "graph.csv").write_text(f"source,target\nweb,api\napi,{db}\n")
    return folder


def test_prints_every_service_root_cause_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = write_case(tmp_path / "case")
    assert main(["rca", str(case)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["orders db@primary", "api", "web"]


def test_without_a_graph_the_loudest_service_comes_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = write_case(tmp_path / "case", graph=False)
    assert main(["rca", str(case)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "api"


def test_explain_prints_hypotheses_as_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = write_case(tmp_path / "case")
    assert main(["rca", str(case), "--explain", "--scores"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("orders db@primary\t")
    comments = [line for line in out if line.startswith("#")]
    assert any("1. orders_db_primary" in line for line in comments)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "case.json").unlink(), "case.json: missing"),
        (lambda d: (d / "case.json").write_text("{\n  'x': 1\n}"), "case.json:2: not valid JSON"),
        (lambda d: (d / "case.json").write_text('{"columns": {}}'), "'inject_time' must be"),
        (lambda d: (d / "metrics.csv").write_text("t,a\n1,2\n"), "metrics.csv:1: the header"),
        (
            lambda d: (d / "metrics.csv").write_text("time,a_x\n1,2\n2,abc\n"),
            "metrics.csv:3: column 'a_x': 'abc' is not a number",
        ),
        (lambda d: (d / "metrics.csv").write_text("time,a_x\n1,2,3\n"), "metrics.csv:2: 3 fields"),
        (lambda d: (d / "graph.csv").write_text("from,to\na,b\n"), "graph.csv:1: the header"),
    ],
)
def test_a_bad_case_folder_is_a_clear_error_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: object, message: str
) -> None:
    case = write_case(tmp_path / "case")
    breakage(case)  # type: ignore[operator]
    assert main(["rca", str(case)]) == 2
    err = capsys.readouterr().err
    assert "[input.case]" in err
    assert message in err
    assert "Traceback" not in err


def test_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rca", str(tmp_path / "nope")]) == 2
    assert "not a case folder" in capsys.readouterr().err
