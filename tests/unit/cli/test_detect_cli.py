"""``setpoint detect``: one output row per input row, in order, online; clear errors, exit 2."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from setpoint.cli import main


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def series(n: int, spike_at: int | None = None) -> str:
    lines = ["timestamp,value"]
    for i in range(n):
        x = 10.0 + math.sin(i / 5.0) + (500.0 if i == spike_at else 0.0)
        lines.append(
            f"2024-01-01T00:00:00+00:00,{x}" if i == 3 else f"{1_700_000_000 + 60 * i},{x}"
        )
    return "\n".join(lines) + "\n"


def read(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


def test_scores_every_row_in_order(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", series(600, spike_at=500))
    out = tmp_path / "out.csv"
    assert main(["detect", "--input", str(src), "--output", str(out)]) == 0
    rows = read(out)
    assert rows[0] == ["timestamp", "value", "anomaly_score"]
    assert [r[:2] for r in rows[1:]] == [r[:2] for r in read(src)[1:]]
    scores = [float(r[2]) for r in rows[1:]]
    assert all(0.0 <= s < 1.0 for s in scores)
    assert max(range(len(scores)), key=scores.__getitem__) == 500


def test_online_prefix_gives_the_same_scores(tmp_path: Path) -> None:
    full, prefix = series(500, spike_at=450), series(300)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    main(["detect", "--input", str(write(tmp_path / "f.csv", full)), "--output", str(a)])
    main(["detect", "--input", str(write(tmp_path / "p.csv", prefix)), "--output", str(b)])
    assert read(a)[:301] == read(b)


def test_alerts_are_zero_or_one(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", series(600, spike_at=500))
    out = tmp_path / "out.csv"
    assert main(["detect", "--alerts", "--input", str(src), "--output", str(out)]) == 0
    alerts = [float(r[2]) for r in read(out)[1:]]
    assert set(alerts) <= {0.0, 1.0}
    assert alerts[500] == 1.0
    assert sum(alerts[:500]) == 0.0


def test_other_detector_and_repeated_or_backward_time(tmp_path: Path) -> None:
    text = "timestamp,value\n" + "".join(f"{100 - (i % 3)},{i % 5}\n" for i in range(50))
    out = tmp_path / "out.csv"
    src = write(tmp_path / "in.csv", text)
    assert main(["detect", "--detector", "ewma_z", "--input", str(src), "--output", str(out)]) == 0
    assert len(read(out)) == 51


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty file"),
        ("timestamp,value\n", "no data rows"),
        ("time,value\n1,2\n", "no timestamp column"),
        ("timestamp,value\n1,2\n2,abc\n", ":3: value 'abc' is not a number"),
        ("timestamp,value\n1,2\n2,nan\n", ":3: value 'nan' is not finite"),
        ("timestamp,value\nyesterday,2\n", ":2: timestamp 'yesterday'"),
        ("timestamp,value\n1\n", ":2: expected 2 columns"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    src = write(tmp_path / "bad.csv", text)
    out = tmp_path / "out.csv"
    assert main(["detect", "--input", str(src), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "bad.csv" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_file_and_unknown_detector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "o.csv")
    assert main(["detect", "--input", str(tmp_path / "nope.csv"), "--output", out]) == 2
    src = write(tmp_path / "in.csv", series(10))
    assert main(["detect", "--detector", "nope", "--input", str(src), "--output", out]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err
    assert "unknown detector 'nope'" in err
