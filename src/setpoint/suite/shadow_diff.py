"""What would have changed: a baseline's and a candidate's shadow runs, compared.

Ids are no help across runs (a candidate that draws one more id shifts every later one), so
things are matched by what they are about: an alert by its service and overlapping time, an
incident by a shared service and overlapping time, a decision by its incident's match, verb and
target. Each unmatched or changed thing becomes one :class:`Change` with its time and service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from setpoint.suite.replay import AlertEpisode, DecisionFact, IncidentFact, ShadowRun

__all__ = ["Change", "ShadowDiff", "diff"]

_T = TypeVar("_T")

_KINDS = {
    "alert-": "alert only in baseline",
    "alert+": "alert only in candidate",
    "incident-": "incident only in baseline",
    "incident+": "incident only in candidate",
    "command-": "command removed",
    "command+": "command added",
    "effect": "policy effect changed",
    "escalation-": "escalated only in baseline",
    "escalation+": "escalated only in candidate",
}
"""Every kind of change, with how the report names it."""


@dataclass(frozen=True)
class Change:
    """One difference: when, which service, what kind, in words, and the policy rules involved."""

    t: float
    service: str
    kind: str
    detail: str
    rule_ids: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return _KINDS[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "service": self.service,
            "kind": self.kind,
            "label": self.label,
            "detail": self.detail,
            "rule_ids": list(self.rule_ids),
        }


@dataclass
class ShadowDiff:
    baseline: ShadowRun
    candidate: ShadowRun
    changes: list[Change] = field(default_factory=list)

    def counts(self, run: ShadowRun) -> dict[str, int]:
        """What one run produced, by kind."""
        outcomes = [d.outcome for d in run.decisions]
        detected = {
            "alerts": sum(not a.suppressed for a in run.alerts),
            "suppressed alerts": sum(a.suppressed for a in run.alerts),
        }
        return {
            **(detected if self.candidate.variant.detection is not None else {}),
            "incidents": len(run.incidents),
            "decisions": len(run.decisions),
            "commands issued": len(run.commands()),
            "approvals requested": outcomes.count("approval"),
            "denied": outcomes.count("deny"),
            "advisory or shadow": outcomes.count("advisory") + outcomes.count("shadow"),
            "escalations": len(run.escalations),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": _variant_json(self.baseline, self.counts(self.baseline)),
            "candidate": _variant_json(self.candidate, self.counts(self.candidate)),
            "changes": [c.to_json() for c in self.changes],
        }


def _variant_json(run: ShadowRun, counts: dict[str, int]) -> dict[str, Any]:
    v = run.variant
    return {
        "policy": v.policy_label,
        "policy_hash": v.policy_hash,
        "profile": v.profile_label,
        "events": run.events,
        "counts": counts,
    }


def diff(baseline: ShadowRun, candidate: ShadowRun) -> ShadowDiff:
    """Every difference between two runs over the same recording, in time order.

    Examples
    --------
    >>> from setpoint.suite.replay import Variant
    >>> from setpoint.policy import Policy
    >>> from setpoint.detectors import DetectionConfig
    >>> v = Variant("b", Policy.from_text("version: 1"), DetectionConfig())
    >>> b, c = ShadowRun(v), ShadowRun(v)
    >>> b.alerts.append(AlertEpisode("a1", "db", 10.0, None, ("latency_ms",), False))
    >>> [(ch.kind, ch.service) for ch in diff(b, c).changes]
    [('alert-', 'db')]
    """
    out = ShadowDiff(baseline, candidate)
    out.changes += _alerts(baseline.alerts, candidate.alerts)
    b_inc, c_inc = baseline.incidents, candidate.incidents
    out.changes += [_incident_change(i, "incident-") for i in _unseen(b_inc, c_inc, _same_incident)]
    out.changes += [_incident_change(i, "incident+") for i in _unseen(c_inc, b_inc, _same_incident)]
    pairs, _, _ = _match(b_inc, c_inc, _same_incident, _incident_distance)
    mapping = {b.incident_id: c.incident_id for b, c in pairs}
    out.changes += _decisions(baseline.decisions, candidate.decisions, mapping)
    out.changes += _escalations(baseline, candidate, mapping)
    out.changes.sort(key=lambda c: (c.t, c.service, c.kind, c.detail))
    return out


# -- matching ----------------------------------------------------------------------------------
def _match(
    a: Sequence[_T],
    b: Sequence[_T],
    same: Callable[[_T, _T], bool],
    distance: Callable[[_T, _T], tuple[float, ...]],
) -> tuple[list[tuple[_T, _T]], list[_T], list[_T]]:
    """Pairs (each of ``a`` with the nearest unpaired ``b`` that is the same), and the rest."""
    pairs: list[tuple[_T, _T]] = []
    free = list(b)
    only_a: list[_T] = []
    for x in a:
        alike = [y for y in free if same(x, y)]
        if not alike:
            only_a.append(x)
            continue
        y = min(alike, key=lambda y: distance(x, y))
        free.remove(y)
        pairs.append((x, y))
    return pairs, only_a, free


def _unseen(a: Sequence[_T], b: Sequence[_T], same: Callable[[_T, _T], bool]) -> list[_T]:
    """What of ``a`` nothing of ``b`` is the same as (an alert split in two in one run and
    whole in the other is in both)."""
    return [x for x in a if not any(same(x, y) for y in b)]


def _overlap(s1: float, e1: float | None, s2: float, e2: float | None) -> bool:
    inf = float("inf")
    return s1 <= (e2 if e2 is not None else inf) and s2 <= (e1 if e1 is not None else inf)


def _same_alert(x: AlertEpisode, y: AlertEpisode) -> bool:
    return x.service == y.service and _overlap(x.start, x.end, y.start, y.end)


def _same_incident(x: IncidentFact, y: IncidentFact) -> bool:
    shared = ({*x.services, x.root} & {*y.services, y.root}) - {""}
    return bool(shared) and _overlap(x.opened, x.closed, y.opened, y.closed)


def _incident_distance(x: IncidentFact, y: IncidentFact) -> tuple[float, ...]:
    """The same id first (a replay of the ledger keeps them), then the nearest opening."""
    return (float(x.incident_id != y.incident_id), abs(x.opened - y.opened))


# -- changes -----------------------------------------------------------------------------------
def _alerts(b: list[AlertEpisode], c: list[AlertEpisode]) -> list[Change]:
    return [_alert_change(a, "alert-") for a in _unseen(b, c, _same_alert)] + [
        _alert_change(a, "alert+") for a in _unseen(c, b, _same_alert)
    ]


def _alert_change(a: AlertEpisode, kind: str) -> Change:
    span = f"{a.end - a.start:.0f} s" if a.end is not None else "until the end"
    why = ", suppressed" if a.suppressed else ""
    detail = f"{', '.join(a.signals) or 'no signal'} ({span}{why})"
    return Change(a.start, a.service, kind, detail)


def _incident_change(i: IncidentFact, kind: str) -> Change:
    what = "novel" if i.novel else f"{i.fault_class} at {i.root}" if i.root else "no hypothesis"
    detail = f"{what}; services {', '.join(i.services)}"
    return Change(i.opened, i.root or (i.services[0] if i.services else ""), kind, detail)


def _decisions(
    b: list[DecisionFact], c: list[DecisionFact], mapping: dict[str, str]
) -> list[Change]:
    """Commands issued by one run only, and effects that changed, per matched incident."""
    c_first, c_issued = _by_key(c, lambda d: d.incident_id)
    b_first, b_issued = _by_key(b, lambda d: mapping.get(d.incident_id, "-" + d.incident_id))
    out: list[Change] = []
    for key, d in b_first.items():
        other = c_first.get(key)
        if other is not None and other.outcome != d.outcome:
            out.append(_effect_change(d, other))
    for key, d in b_issued.items():
        if key not in c_issued:
            out.append(_command_change(d, "command-", c_first.get(key)))
    for key, d in c_issued.items():
        if key not in b_issued:
            out.append(_command_change(d, "command+", b_first.get(key)))
    return out


_Key = tuple[str, str, str]


def _by_key(
    ds: list[DecisionFact], incident: Callable[[DecisionFact], str]
) -> tuple[dict[_Key, DecisionFact], dict[_Key, DecisionFact]]:
    """The first decision on each (incident, verb, target), the one a policy change moves; and
    the first that issued a command (after an approval, it is a later one)."""
    first: dict[_Key, DecisionFact] = {}
    issued: dict[_Key, DecisionFact] = {}
    for d in ds:
        key = (incident(d), d.verb, d.target)
        first.setdefault(key, d)
        if d.issued:
            issued.setdefault(key, d)
    return first, issued


def _escalations(b: ShadowRun, c: ShadowRun, mapping: dict[str, str]) -> list[Change]:
    """Escalations (by reason) of a matched incident that only one run made."""
    bk = {(mapping.get(i, "-" + i), code): t for t, i, code in reversed(b.escalations)}
    ck = {(i, code): t for t, i, code in reversed(c.escalations)}
    out = [_escalation_change(t, k, b, "escalation-") for k, t in bk.items() if k not in ck]
    out += [_escalation_change(t, k, c, "escalation+") for k, t in ck.items() if k not in bk]
    return out


def _escalation_change(t: float, key: tuple[str, str], run: ShadowRun, kind: str) -> Change:
    iid, code = key
    inc = next((i for i in run.incidents if i.incident_id == iid.lstrip("-")), None)
    service = (inc.root or (inc.services[0] if inc.services else "")) if inc else ""
    return Change(t, service, kind, f"{code or 'escalated'} (a human is paged)")


def _command_change(d: DecisionFact, kind: str, other: DecisionFact | None) -> Change:
    side = "candidate" if kind == "command-" else "baseline"
    if other is None:
        because = f"{side}: not proposed"
        rules = d.rule_ids
    else:
        because = f"{side}: {other.outcome}" + (
            f" by {', '.join(other.rule_ids)}" if other.rule_ids else ""
        )
        rules = other.rule_ids
    return Change(d.t, d.target, kind, f"{d.verb} {d.target} ({because})", rules)


def _effect_change(b: DecisionFact, c: DecisionFact) -> Change:
    rules = tuple(dict.fromkeys(b.rule_ids + c.rule_ids))
    why = f"; {c.reasons[0]}" if c.reasons and not c.rule_ids else ""
    detail = (
        f"{b.verb} {b.target}: {b.outcome} [{', '.join(b.rule_ids) or 'no rule'}] -> "
        f"{c.outcome} [{', '.join(c.rule_ids) or 'no rule'}]{why}"
    )
    return Change(c.t, c.target, "effect", detail, rules)
