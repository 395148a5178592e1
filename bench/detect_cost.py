"""Cost of detection, in process: microseconds per event and bytes of state per series.

Measures the default detector (``DetectionConfig().detector``), the full per-series path the
stage runs (detector + alert decision) and, in the same run, river's
``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees()`` as the baseline, then prints ratios.

    .venv/bin/python bench/detect_cost.py            # about a minute on a small machine
    .venv/bin/python bench/detect_cost.py --quick    # fewer events, for a smoke test

Timing is the median over ``--repeats`` runs of a fresh detector over the same synthetic series
(a daily rhythm, noise, spikes); ``time.perf_counter`` brackets the loop only. State is measured
two ways: the pickled size of one trained detector, and ``tracemalloc``'s growth while many
series are created and fed (what a worker really holds per series, Python objects included).
"""

from __future__ import annotations

import argparse
import math
import pickle
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from river import anomaly, compose, preprocessing

from setpoint.detectors import DetectionConfig, DetectionStage, make

Series = list[tuple[float, float]]


def series(n: int, seed: int = 1) -> Series:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = 1_700_000_000.0 + 60.0 * i
        x = 100.0 + 20.0 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0, 2)
        out.append((t, x + (80.0 if rng.random() < 0.002 else 0.0)))
    return out


def river_hst() -> Any:
    return compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees())


def feed_river(model: Any, rows: Series) -> None:
    for _, x in rows:
        model.score_one({"x": x})
        model.learn_one({"x": x})


def feed_default(rows: Series) -> None:
    d = make(DetectionConfig().detector)
    for t, x in rows:
        d.update(x, t)


def feed_monitor(rows: Series) -> None:
    m = DetectionConfig().new_monitor()
    for t, x in rows:
        m.observe(x, t)


def us_per_event(feed: Callable[[Series], None], rows: Series, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        feed(rows)
        runs.append((time.perf_counter() - t0) / len(rows) * 1e6)
    return statistics.median(runs)


def pickled_bytes(obj: Any) -> int:
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def traced_bytes_per_series(build: Callable[[], Any], feed: Callable[[Any, Series], None],
                            n_series: int, rows: Series) -> float:  # fmt: skip
    keep = []
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(n_series):
        obj = build()
        feed(obj, rows)
        keep.append(obj)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / n_series


def stage_bytes_per_series(n_series: int, samples: int) -> float:
    stage = DetectionStage()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(samples):
        for s in range(n_series):
            stage.observe(f"svc{s % 100}", f"metric{s}", 50.0 + (i * s) % 17, 60.0 * i)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / stage.series_count()


def _feed_det(d: Any, rows: Series) -> None:
    for t, x in rows:
        d.update(x, t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--river-events", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--series", type=int, default=2_000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.events, a.river_events, a.repeats, a.series = 5_000, 1_000, 3, 200
    name = DetectionConfig().detector
    rows, short = series(a.events), series(a.river_events)
    warm = series(600)

    det_us = us_per_event(feed_default, rows, a.repeats)
    mon_us = us_per_event(feed_monitor, rows, a.repeats)
    hst_us = us_per_event(lambda r: feed_river(river_hst(), r), short, a.repeats)

    trained = make(name)
    _feed_det(trained, warm)
    hst = river_hst()
    feed_river(hst, warm)
    det_pk, hst_pk = pickled_bytes(trained), pickled_bytes(hst)
    det_tm = traced_bytes_per_series(lambda: make(name), _feed_det, a.series, warm)
    hst_tm = traced_bytes_per_series(river_hst, feed_river, max(10, a.series // 40), warm)
    stage_tm = stage_bytes_per_series(a.series, 300)

    print(f"events: {a.events:,} (river: {a.river_events:,}), median of {a.repeats} runs")
    print(f"{'':34}{'us/event':>10}{'pickle B':>10}{'traced B':>10}")
    print(f"{name + ' (default detector)':34}{det_us:>10.2f}{det_pk:>10}{det_tm:>10.0f}")
    print(f"{'stage path (detector + alerter)':34}{mon_us:>10.2f}{'':>10}{stage_tm:>10.0f}")
    print(f"{'river MinMaxScaler|HalfSpaceTrees':34}{hst_us:>10.2f}{hst_pk:>10}{hst_tm:>10.0f}")
    print(f"ratio river/default: {hst_us / det_us:.1f}x time, {hst_pk / det_pk:.0f}x pickle, "
          f"{hst_tm / det_tm:.0f}x traced memory")  # fmt: skip
    ok_t, ok_m = det_us <= 10.0, max(det_pk, stage_tm) <= 2048
    print(f"targets: <= 10 us/event {'met' if ok_t else 'MISSED'}; "
          f"<= 2 KB/series (stage, all included) {'met' if ok_m else 'MISSED'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
