"""Totals over scored runs and the tables ``setpoint scenarios run`` prints."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from setpoint.suite.score import ScenarioScore


@dataclass
class Totals:
    """One strategy summed over scenarios (and seeds)."""

    strategy: str
    runs: int = 0
    resolvable: int = 0
    resolved: int = 0
    unfixable: int = 0
    unfixable_escalated: int = 0
    blocked: int = 0
    blocked_escalated: int = 0
    transient: int = 0
    actions: int = 0
    wrong_actions: int = 0
    first_actions: int = 0
    wrong_first_actions: int = 0
    rollbacks: int = 0
    incidents: int = 0
    duplicate_incidents: int = 0
    false_incidents: int = 0
    escalations: int = 0
    warranted_escalations: int = 0
    approvals: int = 0
    pages: int = 0
    violations: int = 0
    quiet_h: float = 0.0
    ttr: list[float] = field(default_factory=list)
    ttd: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    """Every resolvable fault not resolved (and every novel or blocked one not escalated)."""

    def add(self, s: ScenarioScore) -> None:
        self.runs += 1
        for name in ("actions", "wrong_actions", "first_actions", "wrong_first_actions",
                     "rollbacks", "incidents", "duplicate_incidents", "false_incidents",
                     "escalations", "warranted_escalations", "approvals", "pages"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(s, name))
        self.violations += len(s.violations)
        self.quiet_h += s.quiet_s / 3600.0
        for f in s.faults:
            self._fault(s, f)

    def _fault(self, s: ScenarioScore, f: Any) -> None:
        where = f"{s.scenario} (seed {s.seed}): {f.fault_class} on {f.root}"
        if f.ttd is not None and f.category != "harmless":
            self.ttd.append(f.ttd)
        if f.category == "resolvable":
            self.resolvable += 1
            if f.resolved:
                self.resolved += 1
                self.ttr.append(f.ttr or 0.0)
            else:
                self.missed.append(f"{where}: {f.note}")
        elif f.category in ("unfixable", "blocked"):
            setattr(self, f.category, getattr(self, f.category) + 1)
            if f.escalated:
                name = f"{f.category}_escalated"
                setattr(self, name, getattr(self, name) + 1)
            else:
                self.missed.append(f"{where}: not escalated ({f.category}; {f.note})")
        elif f.category == "transient":
            self.transient += 1

    # -- derived ---------------------------------------------------------------------------
    @property
    def resolution_rate(self) -> float:
        return self.resolved / self.resolvable if self.resolvable else 0.0

    @property
    def wrong_action_rate(self) -> float:
        return self.wrong_actions / self.actions if self.actions else 0.0

    @property
    def wrong_first_rate(self) -> float:
        return self.wrong_first_actions / self.first_actions if self.first_actions else 0.0

    @property
    def mttr_s(self) -> float | None:
        return statistics.fmean(self.ttr) if self.ttr else None

    @property
    def median_ttr_s(self) -> float | None:
        return statistics.median(self.ttr) if self.ttr else None

    @property
    def mttd_s(self) -> float | None:
        return statistics.fmean(self.ttd) if self.ttd else None

    @property
    def false_per_day(self) -> float:
        return self.false_incidents / self.quiet_h * 24.0 if self.quiet_h else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("resolution_rate", "wrong_action_rate", "wrong_first_rate", "mttr_s",
                     "median_ttr_s", "mttd_s", "false_per_day"):  # fmt: skip
            out[name] = getattr(self, name)
        return out


def totals(scores: Iterable[ScenarioScore]) -> dict[str, Totals]:
    """Per strategy, in the order strategies first appear."""
    out: dict[str, Totals] = {}
    for s in scores:
        out.setdefault(s.strategy, Totals(s.strategy)).add(s)
    return out


def _min(v: float | None) -> str:
    return "-" if v is None else f"{v / 60.0:.1f} min"


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({n / d:.0%})" if d else "-"


def summary_rows(tots: dict[str, Totals]) -> tuple[list[str], list[list[str]]]:
    """The comparison table: one row per strategy."""
    header = ["strategy", "resolved", "wrong actions", "wrong first", "MTTR", "median TTR",
              "TTD", "pages", "novel/blocked escalated", "rollbacks", "false alarms",
              "violations"]  # fmt: skip
    rows = []
    for t in tots.values():
        rows.append([
            t.strategy,
            _pct(t.resolved, t.resolvable),
            _pct(t.wrong_actions, t.actions),
            _pct(t.wrong_first_actions, t.first_actions),
            _min(t.mttr_s),
            _min(t.median_ttr_s),
            _min(t.mttd_s),
            str(t.pages),
            f"{t.unfixable_escalated}/{t.unfixable}, {t.blocked_escalated}/{t.blocked}",
            str(t.rollbacks),
            f"{t.false_incidents} ({t.false_per_day:.1f}/day)",
            str(t.violations),
        ])  # fmt: skip
    return header, rows


def scenario_rows(scores: Iterable[ScenarioScore]) -> tuple[list[str], list[list[str]]]:
    """One row per scenario and strategy."""
    header = ["scenario", "strategy", "faults", "resolved", "incidents (dup/false)",
              "actions (wrong)", "rollbacks", "escalations (warranted)", "pages", "TTD", "TTR",
              "violations"]  # fmt: skip
    rows = []
    for s in scores:
        res = s.of("resolvable")
        ttd = [f.ttd for f in s.faults if f.ttd is not None]
        ttr = [f.ttr for f in res if f.ttr is not None]
        rows.append([
            s.scenario + (" *" if s.held_out else ""),
            s.strategy,
            ", ".join(f"{f.fault_class}@{f.root}" for f in s.faults if f.category != "harmless")
            or "-",
            f"{sum(f.resolved for f in res)}/{len(res)}",
            f"{s.incidents} ({s.duplicate_incidents}/{s.false_incidents})",
            f"{s.actions} ({s.wrong_actions})",
            str(s.rollbacks),
            f"{s.escalations} ({s.warranted_escalations})",
            str(s.pages),
            _min(statistics.fmean(ttd)) if ttd else "-",
            _min(statistics.fmean(ttr)) if ttr else "-",
            str(len(s.violations)),
        ])  # fmt: skip
    return header, rows
