"""What each part of the causal ranker is worth on the RCA benchmark's dev split.

    .venv/bin/python bench/rca_sensitivity.py [--data ../shared/bench/rca/data]

Each case is replayed once through the detect stage into the ``Diagnoser`` (as ``setpoint rca``
does), then ranked again under each variant of :class:`~setpoint.causal.DiagnosisConfig` (and
of the series store's persistence). Prints AC@1 / Avg@5 per dataset, scored as
``rcaeval.py`` scores (one root cause per case; ``<svc>-db`` counts as ``<svc>``). The labels
are read here, to score; the ranker never sees them.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Any

from setpoint.causal import DiagnosisConfig
from setpoint.cli.rca import Replay, rank_case, replay_case
from setpoint.cli.rca_case import load_case

VARIANTS: list[tuple[str, dict[str, Any], int]] = [
    ("default (edge 1.0, explained 0.5, support 0.5, depth 2, persistence 2)", {}, 2),
    ("edge_weight = 0.0", {"edge_weight": 0.0}, 2),
    ("edge_weight = 0.3", {"edge_weight": 0.3}, 2),
    ("edge_weight = 2.0", {"edge_weight": 2.0}, 2),
    ("explained_weight = 0.0", {"explained_weight": 0.0}, 2),
    ("explained_weight = 1.0", {"explained_weight": 1.0}, 2),
    ("support_weight = 0.0", {"support_weight": 0.0}, 2),
    ("support_weight = 1.0", {"support_weight": 1.0}, 2),
    ("explain_depth = 1", {"explain_depth": 1}, 2),
    ("explain_depth = 3", {"explain_depth": 3}, 2),
    ("onset_weight = 1.0", {"onset_weight": 1.0}, 2),
    ("persistence = 1", {}, 1),
    ("persistence = 3", {}, 3),
    ("method = anomaly", {"method": "anomaly"}, 2),
    ("method = pagerank", {"method": "pagerank"}, 2),
]


def hit_rank(ranking: list[str], truth: str, services: list[str]) -> int | None:
    known, seen, out = set(services), set(), []
    for name in ranking:
        name = name[:-3] if name.endswith("-db") and name[:-3] in known else name
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out.index(truth) + 1 if truth in out else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("RCA_DATA", "../shared/bench/rca/data"))
    )
    args = ap.parse_args()
    datasets = sorted(p.name for p in args.data.iterdir() if (p / "labels.csv").exists())
    replays: dict[str, list[tuple[Replay, str]]] = {}
    for ds in datasets:
        with (args.data / ds / "labels.csv").open(newline="") as f:
            labels = list(csv.DictReader(f))
        replays[ds] = [
            (replay_case(load_case(args.data / ds / "cases" / lab["case_id"]), DiagnosisConfig()),
             lab["root_cause_service"])
            for lab in labels
        ]  # fmt: skip
    print("| variant | " + " | ".join(datasets) + " |")
    print("|---|" + "---|" * len(datasets))
    for name, update, persistence in VARIANTS:
        cells = []
        for ds in datasets:
            hits = []
            for replay, truth in replays[ds]:
                replay.diagnoser.store.persistence = persistence
                replay.diagnoser.store.drop_baselines()
                _, ranked = rank_case(replay, DiagnosisConfig(**update))
                hits.append(hit_rank([n for n, _ in ranked], truth, list(replay.case.services)))
            ac = [sum(1 for h in hits if h is not None and h <= k) / len(hits) for k in range(1, 6)]
            cells.append(f"{ac[0]:.2f} / {sum(ac) / 5:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
