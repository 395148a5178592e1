"""The verify stage: after an action, did the incident's signals come back to where they were
before the incident began? Recovered, not recovered, or inconclusive - each is a value.

What is judged: the action's target and the services of its incident, against each one's median
over the health summaries before the incident opened, on the verb's success signals (the verb
catalog), after the verb's settle time and within its window. Two things keep the judgement
honest:

* **Overlapping incidents.** A service claimed by a *newer* incident whose root is not this
  action's target (a shared caller like ``frontend`` hurt by a new, unrelated fault) is left out
  while that incident is open: its trouble says nothing about this action. The target itself is
  never left out.
* **A target that goes quiet is not healthy.** A service whose request rate falls below
  ``quiet_ratio`` of its baseline (an expired certificate: callers fail the handshake and the
  target sees no traffic, so its own error rate looks perfect), or whose baseline signals are no
  longer measured, does not count as recovered.

Recovery needs ``streak`` consecutive *new* health summaries of every judged service all within
tolerance.

What "within tolerance" means, per signal:

* **back near its baseline**: at most ``baseline * (1 + rel_tol)`` plus an absolute slack (a
  couple of error-log lines per window are noise, not a relapse); or
* **most of the excursion undone**: a signal that went far off during the incident and has come
  back at least ``recover_share`` of the way (a service that now serves a surge it could not has
  a higher latency than before the surge, and is fixed); or
* for a **resource signal** (``saturation``, ``cpu``) on the target: under its ceiling (more load
  on more replicas is not a failure).

Resource signals are judged on the target only, and a caller of the target only on what its users
see (error rate, latency, error logs, request rate): its cpu rightly moves with the load the
target serves again. With a caller map (``callers``), the incident's services judged besides the
target are its direct callers (what an action on the target can heal); without one, all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from setpoint.actuators.overlap import other_roots, own_slis
from setpoint.actuators.verify_state import HandOver, HealthLog, Pending
from setpoint.clock import to_datetime
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    FaultClass,
    Incident,
    IncidentStatus,
    ServiceHealth,
    Verification,
    VerificationOutcome,
    new_id,
)
from setpoint.schemas.verbs import spec

_HISTORY_S = 3600.0
_RATE = "request_rate"
_DONE_KEPT = 10_000
_USER_FACING = frozenset({"error_rate", "latency_p50_ms", "latency_p99_ms", "log_errors", _RATE})
SLACK = {"log_errors": 3.0}
"""Absolute slack per signal (error-log lines per window), on top of ``abs_tol``."""
CEILINGS = {"saturation": 0.8, "cpu": 0.85}
"""Resource signals that are healthy under a ceiling, whatever their baseline was."""


_View = Callable[[Mapping[str, float]], dict[str, float]]


class Verifier(HandOver):
    """Judges executed actions against each watched service's pre-incident baseline.

    Parameters
    ----------
    rel_tol, abs_tol
        A signal has recovered when it is at most ``baseline * (1 + rel_tol) + abs_tol``.
    streak
        Consecutive new health summaries, all good, needed to call it recovered.
    quiet_ratio
        A service whose request rate is below this share of its baseline has gone quiet.
    min_rate
        Baseline request rates below this are too low to tell quiet from normal.

    Examples
    --------
    >>> v = Verifier()
    >>> v.pending(), v.streak
    (0, 3)
    """

    def __init__(
        self,
        rel_tol: float = 0.35,
        abs_tol: float = 0.02,
        streak: int = 3,
        quiet_ratio: float = 0.5,
        min_rate: float = 0.05,
        recover_share: float = 0.8,
        callers: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.streak = streak
        self.quiet_ratio = quiet_ratio
        self.min_rate = min_rate
        self.recover_share = recover_share
        self.callers = {k: frozenset(v) for k, v in (callers or {}).items()}
        self._graph = callers is not None
        callees: dict[str, set[str]] = {}
        for callee, its in self.callers.items():
            for c in its:
                callees.setdefault(c, set()).add(callee)
        self._callees = {k: frozenset(v) for k, v in callees.items()}
        self._incidents: dict[str, Incident] = {}
        self._health: dict[str, HealthLog] = {}
        self._pending: dict[str, Pending] = {}
        self._done: dict[str, str] = {}
        """action id -> domain of the last actions judged (a result delivered again is not
        verified twice)."""

    def handle(self, value: object, now: float) -> None:
        """Dispatch any input of the verify stage to its handler."""
        if isinstance(value, ServiceHealth):
            self.on_health(value)
        elif isinstance(value, ActionResult):
            self.on_result(value, now)
        elif isinstance(value, Incident):
            self.on_incident(value)

    def on_incident(self, inc: Incident) -> None:
        self._incidents[inc.incident_id] = inc

    def on_health(self, h: ServiceHealth) -> None:
        hist = self._health.setdefault(h.service, HealthLog()).points
        hist.append(h)
        horizon = h.ts.timestamp() - _HISTORY_S
        while hist and hist[0].ts.timestamp() < horizon:
            hist.popleft()

    def on_result(self, res: ActionResult, now: float) -> None:
        if res.status != ActionStatus.EXECUTED or res.action_id in self._pending:
            return
        if res.action_id in self._done:
            return
        vs = spec(res.verb)
        inc = self._incidents.get(res.incident_id)
        services = self._judged(res.target, inc.services if inc else [])
        onset = inc.opened_at.timestamp() if inc else now
        slis = (*vs.success_slis, _RATE)

        def watched(svc: str) -> tuple[str, ...]:
            return slis if svc == res.target else tuple(x for x in slis if x in _USER_FACING)

        self._pending[res.action_id] = Pending(
            result=res,
            start=now,
            settle_until=now + vs.settle_s,
            deadline=now + vs.settle_s + vs.window_s,
            services=services,
            baseline={s: self._baseline(s, onset, watched(s)) for s in services},
            opened_at=onset,
            peak={s: self._peak(s, onset, now, watched(s)) for s in services},
            own=(
                self._baseline(res.target, onset, watched(res.target), own_slis),
                self._peak(res.target, onset, now, watched(res.target), own_slis),
            ),
        )

    def _judged(self, target: str, services: Iterable[str]) -> list[str]:
        """The target, and the incident's services an action on it can heal."""
        if not self._graph:
            return sorted({target, *services})
        near = self.callers.get(target, frozenset())
        return sorted({target, *(s for s in services if s in near)})

    def _baseline(
        self, service: str, before: float, slis: tuple[str, ...], view: _View = dict
    ) -> dict[str, float]:
        pts = [
            view(p.slis)
            for p in self._health.get(service, HealthLog()).points
            if p.ts.timestamp() < before
        ]
        out: dict[str, float] = {}
        for name in slis:
            vals = sorted(p[name] for p in pts[-40:] if name in p)
            if vals:
                out[name] = vals[len(vals) // 2]
        return out

    def _peak(
        self, service: str, since: float, until: float, slis: tuple[str, ...], view: _View = dict
    ) -> dict[str, float]:
        pts = [
            view(p.slis)
            for p in self._health.get(service, HealthLog()).points
            if since <= p.ts.timestamp() <= until
        ]
        out: dict[str, float] = {}
        for n in slis:
            vals = [p[n] for p in pts if n in p]
            if n != _RATE and vals:
                out[n] = max(vals)
        return out

    def tick(self, now: float) -> list[Verification]:
        done: list[Verification] = []
        for action_id, p in list(self._pending.items()):
            v = self._judge(p, now)
            if v is not None:
                done.append(v)
                del self._pending[action_id]
                self._done[action_id] = p.result.domain
                while len(self._done) > _DONE_KEPT:
                    del self._done[next(iter(self._done))]
        return done

    def overlapped(self, p: Pending) -> dict[str, FaultClass]:
        """Other roots its incident's diagnosis names behind the target (``overlap``)."""
        inc = self._incidents.get(p.result.incident_id)
        return other_roots(inc.hypotheses if inc else [], p.result.target, self._callees)

    def excluded(self, p: Pending) -> list[str]:
        """Services of ``p`` claimed by a newer open incident whose root is elsewhere, and
        every one but the target while other roots of its incident sit behind the target."""
        target = p.result.target
        if self.overlapped(p):
            return sorted(set(p.services) - {target})
        out: set[str] = set()
        for inc in self._incidents.values():
            newer = inc.opened_at.timestamp() > p.opened_at
            if inc.incident_id == p.result.incident_id or not newer:
                continue
            if inc.status == IncidentStatus.RECOVERED:
                continue
            root = inc.hypotheses[0].service if inc.hypotheses else None
            if root != target:
                out.update(inc.services)
        out.discard(target)
        return sorted(out & set(p.services))

    def _judge(self, p: Pending, now: float) -> Verification | None:
        if now < p.settle_until:
            return None
        judged = [s for s in p.services if s not in self.excluded(p)]
        latest = {s: self._latest_after(s, p.settle_until) for s in judged}
        fresh = tuple(h.ts.timestamp() for h in latest.values() if h is not None)
        if len(fresh) == len(latest) and fresh != p.last_round:
            p.last_round = fresh
            others = self.overlapped(p)
            problems = [w for s, h in latest.items() if h and (w := self._problem(p, s, h, others))]
            p.good_streak = 0 if problems else p.good_streak + 1
            p.why = "; ".join(problems[:4])
        if p.good_streak >= self.streak:
            return self._verdict(p, VerificationOutcome.RECOVERED, latest, now, "")
        if now < p.deadline:
            return None
        if any(h is None for h in latest.values()):
            why = "no health data after the action"
            return self._verdict(p, VerificationOutcome.INCONCLUSIVE, latest, now, why)
        return self._verdict(p, VerificationOutcome.NOT_RECOVERED, latest, now, p.why)

    def _latest_after(self, service: str, t: float) -> ServiceHealth | None:
        pts = self._health.get(service)
        if not pts or not pts.points or pts.points[-1].ts.timestamp() < t:
            return None
        return pts.points[-1]

    def _problem(
        self, p: Pending, service: str, h: ServiceHealth, others: Mapping[str, FaultClass]
    ) -> str:
        """Why ``service`` is not back to its baseline in ``h`` ("" when it is); with other
        roots behind the target, the target is judged on its own errors."""
        own = bool(others) and service == p.result.target
        base = p.own[0] if own else p.baseline.get(service, {})
        slis = own_slis(h.slis, others.values()) if own else h.slis
        rate, rate_base = slis.get(_RATE), base.get(_RATE)
        watch_rate = rate_base is not None and rate_base >= self.min_rate
        if watch_rate and (rate is None or rate < self.quiet_ratio * (rate_base or 0.0)):
            return f"{service} went quiet ({_RATE} {rate} vs {rate_base:.3g})"
        for name, b in base.items():
            v = slis.get(name)
            if v is None:
                return f"{service}.{name} is no longer measured"
            if name != _RATE and not self._good(p, service, name, v, b, own):
                return f"{service}.{name} {v:.3g} vs baseline {b:.3g}"
        return ""

    def _good(
        self, p: Pending, service: str, name: str, v: float, b: float, own: bool = False
    ) -> bool:
        """Whether one signal is within tolerance (see the module's docstring)."""
        slack = self.abs_tol * max(1.0, abs(b)) + SLACK.get(name, 0.0)
        near = b * (1 + self.rel_tol) + slack
        if v <= near:
            return True
        if service == p.result.target and name in CEILINGS and v <= CEILINGS[name]:
            return True
        peak = (p.own[1] if own else p.peak.get(service, {})).get(name)
        return peak is not None and peak > near and v <= b + (1 - self.recover_share) * (peak - b)

    def _verdict(
        self,
        p: Pending,
        outcome: VerificationOutcome,
        latest: dict[str, ServiceHealth | None],
        now: float,
        why: str,
    ) -> Verification:
        observed = {
            f"{s}.{k}": v
            for s, h in latest.items()
            if h
            for k, v in h.slis.items()
            if k in p.baseline.get(s, {})
        }
        baseline = {f"{s}.{k}": v for s, b in p.baseline.items() for k, v in b.items()}
        left_out = self.excluded(p)
        detail = {
            VerificationOutcome.RECOVERED: "signals back to baseline",
            VerificationOutcome.NOT_RECOVERED: "still off baseline at the end of the window",
            VerificationOutcome.INCONCLUSIVE: "",
        }[outcome]
        detail = "; ".join(x for x in (detail, why) if x)
        if left_out:
            names = ", ".join(left_out)
            detail += f" (left out, claimed by a newer incident or behind other roots: {names})"
        r = p.result
        return Verification(
            verification_id=new_id("ver"),
            action_id=r.action_id,
            incident_id=r.incident_id,
            target=r.target,
            domain=r.domain,
            verb=r.verb,
            outcome=outcome,
            started_at=to_datetime(p.start),
            ts=to_datetime(now),
            window_s=p.deadline - p.start,
            observed=observed,
            baseline=baseline,
            detail=detail[:1000],
        )

    def pending(self) -> int:
        return len(self._pending)
