"""The verify stage: after an action, did the incident's signals come back to where they were
before the incident began? Recovered, not recovered, or inconclusive - each is a value."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from setpoint import snapshot
from setpoint.clock import to_datetime
from setpoint.errors import DecodeError
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    Incident,
    ServiceHealth,
    Verification,
    VerificationOutcome,
    new_id,
)
from setpoint.schemas.verbs import spec

_HISTORY_S = 3600.0
_DONE_KEPT = 10_000
_STATE_MODULES = ("setpoint.actuators", "setpoint.schemas")


@dataclass
class _Pending:
    result: ActionResult
    start: float
    settle_until: float
    deadline: float
    services: list[str]
    baseline: dict[str, dict[str, float]]
    good_streak: int = 0


@dataclass
class _Health:
    points: deque[ServiceHealth] = field(default_factory=deque)


class Verifier:
    """Judges executed actions against each watched service's pre-incident baseline.

    Parameters
    ----------
    rel_tol, abs_tol
        A signal has recovered when it is at most ``baseline * (1 + rel_tol) + abs_tol``.
    streak
        Consecutive good health summaries needed to call it recovered.
    """

    def __init__(self, rel_tol: float = 0.35, abs_tol: float = 0.02, streak: int = 3) -> None:
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.streak = streak
        self._incidents: dict[str, Incident] = {}
        self._health: dict[str, _Health] = {}
        self._pending: dict[str, _Pending] = {}
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
        hist = self._health.setdefault(h.service, _Health()).points
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
        services = sorted({res.target, *(inc.services if inc else [])})
        onset = inc.opened_at.timestamp() if inc else now
        self._pending[res.action_id] = _Pending(
            result=res,
            start=now,
            settle_until=now + vs.settle_s,
            deadline=now + vs.settle_s + vs.window_s,
            services=services,
            baseline={s: self._baseline(s, onset, vs.success_slis) for s in services},
        )

    def _baseline(self, service: str, before: float, slis: tuple[str, ...]) -> dict[str, float]:
        pts = [p for p in self._health.get(service, _Health()).points if p.ts.timestamp() < before]
        out: dict[str, float] = {}
        for name in slis:
            vals = sorted(p.slis[name] for p in pts[-40:] if name in p.slis)
            if vals:
                out[name] = vals[len(vals) // 2]
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

    def _judge(self, p: _Pending, now: float) -> Verification | None:
        if now < p.settle_until:
            return None
        latest = {s: self._latest_after(s, p.settle_until) for s in p.services}
        if all(h is not None for h in latest.values()):
            good = all(self._good(p.baseline[s], h) for s, h in latest.items() if h is not None)
            p.good_streak = p.good_streak + 1 if good else 0
        if p.good_streak >= self.streak:
            return self._verdict(
                p, VerificationOutcome.RECOVERED, latest, now, "signals back to baseline"
            )
        if now < p.deadline:
            return None
        if any(h is None for h in latest.values()):
            return self._verdict(
                p, VerificationOutcome.INCONCLUSIVE, latest, now, "no health data after the action"
            )
        return self._verdict(
            p,
            VerificationOutcome.NOT_RECOVERED,
            latest,
            now,
            "signals still off baseline at the end of the window",
        )

    def _latest_after(self, service: str, t: float) -> ServiceHealth | None:
        pts = self._health.get(service)
        if not pts or not pts.points or pts.points[-1].ts.timestamp() < t:
            return None
        return pts.points[-1]

    def _good(self, baseline: dict[str, float], h: ServiceHealth) -> bool:
        for name, base in baseline.items():
            v = h.slis.get(name)
            if v is not None and v > base * (1 + self.rel_tol) + self.abs_tol * max(1.0, abs(base)):
                return False
        return True

    def _verdict(
        self,
        p: _Pending,
        outcome: VerificationOutcome,
        latest: dict[str, ServiceHealth | None],
        now: float,
        detail: str,
    ) -> Verification:
        observed = {
            f"{s}.{k}": v
            for s, h in latest.items()
            if h
            for k, v in h.slis.items()
            if k in p.baseline.get(s, {})
        }
        baseline = {f"{s}.{k}": v for s, b in p.baseline.items() for k, v in b.items()}
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
            detail=detail,
        )

    def pending(self) -> int:
        return len(self._pending)

    # -- hand-over (a domain's partition moves to another worker) -----------------------------
    def domains(self) -> list[str]:
        """The failure domains this stage holds incidents, health or pending actions for."""
        held = {i.domain for i in self._incidents.values()}
        held |= {h.points[-1].domain for h in self._health.values() if h.points}
        return sorted(held | {p.result.domain for p in self._pending.values()})

    def snapshot(self, domain: str) -> bytes:
        """``domain``'s incidents, health history, pending verifications and recent verdicts."""
        state = (
            domain,
            {i: inc for i, inc in self._incidents.items() if inc.domain == domain},
            {s: h for s, h in self._health.items() if h.points and h.points[-1].domain == domain},
            {a: p for a, p in self._pending.items() if p.result.domain == domain},
            {a: d for a, d in self._done.items() if d == domain},
        )
        return snapshot.dump(state)

    def restore(self, data: bytes) -> str:
        """Take over a domain from a :meth:`snapshot`; ``DecodeError`` for anything else.

        Examples
        --------
        >>> from setpoint.clock import to_datetime
        >>> a, b = Verifier(), Verifier()
        >>> a.on_health(ServiceHealth(service="api", domain="shop", ts=to_datetime(5),
        ...                           anomalous=False, slis={"error_rate": 0.01}))
        >>> b.restore(a.snapshot("shop")), b.domains()
        ('shop', ['shop'])
        """
        state = snapshot.load(data, _STATE_MODULES)
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[0], str)):
            msg = "verify snapshot has an unexpected shape"
            raise DecodeError(msg)
        domain, incidents, health, pending, done = state
        self.drop([domain])
        self._incidents.update(incidents)
        self._health.update(health)
        self._pending.update(pending)
        self._done.update(done)
        return str(domain)

    def drop(self, domains: Iterable[str]) -> None:
        """Forget ``domains`` (their partition moved to another worker)."""
        gone = set(domains)
        self._incidents = {i: x for i, x in self._incidents.items() if x.domain not in gone}
        self._health = {
            s: h for s, h in self._health.items() if not h.points or h.points[-1].domain not in gone
        }
        self._pending = {a: p for a, p in self._pending.items() if p.result.domain not in gone}
        self._done = {a: d for a, d in self._done.items() if d not in gone}
