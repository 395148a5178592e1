"""The diagnose stage's logic (v0): group related anomalies into incidents and rank root causes.

A deliberately simple first ranking: change correlation first, then fault signatures of the most
downstream anomalous services. The graph is caller -> callee; anomalies propagate callee -> caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from setpoint.clock import to_datetime
from setpoint.schemas import (
    Anomaly,
    ChangeEvent,
    ChangeType,
    Evidence,
    EvidenceKind,
    FaultClass,
    Hypothesis,
    Incident,
    IncidentStatus,
    new_id,
)

ACTIONS: dict[FaultClass, list[str]] = {
    FaultClass.BAD_DEPLOY: ["rollback_deploy"],
    FaultClass.BAD_CONFIG: ["rollback_deploy"],
    FaultClass.MEMORY_LEAK: ["restart"],
    FaultClass.SATURATION: ["scale"],
    FaultClass.POISONED_CACHE: ["flush_cache"],
    FaultClass.EXPIRED_CERTIFICATE: ["renew_certificate"],
    FaultClass.EXPIRED_CREDENTIAL: ["rotate_credential"],
    FaultClass.DEPENDENCY_OUTAGE: ["shift_traffic"],
    FaultClass.UNKNOWN: ["escalate"],
}
_LOG_CLASS = {
    "cache_corrupt": FaultClass.POISONED_CACHE,
    "oom": FaultClass.MEMORY_LEAK,
}
_CHANGE_CLASS = {
    ChangeType.DEPLOY: FaultClass.BAD_DEPLOY,
    ChangeType.CONFIG: FaultClass.BAD_CONFIG,
    ChangeType.CERTIFICATE_EXPIRY: FaultClass.EXPIRED_CERTIFICATE,
    ChangeType.CREDENTIAL_EXPIRY: FaultClass.EXPIRED_CREDENTIAL,
}
_CHANGE_LOG = {
    FaultClass.EXPIRED_CERTIFICATE: "tls_handshake",
    FaultClass.EXPIRED_CREDENTIAL: "auth_denied",
}


@dataclass
class _Open:
    incident_id: str
    domain: str
    opened_at: float
    anomalies: dict[str, Anomaly] = field(default_factory=dict)
    revision: int = 0
    last: Incident | None = None


class Diagnoser:
    """Anomalies in, incidents out.

    Parameters
    ----------
    graph
        Caller -> callee dependency graph.
    group_window_s
        Anomalies within this long of an open incident's last activity may join it.
    change_lookback_s
        How far before an onset a change is a suspect.
    novel_below
        A top hypothesis scoring below this is not trusted: the incident is novel.
    """

    def __init__(
        self,
        graph: nx.DiGraph | None = None,
        group_window_s: float = 600.0,
        change_lookback_s: float = 1800.0,
        novel_below: float = 0.5,
    ) -> None:
        self.graph = graph if graph is not None else nx.DiGraph()
        self.group_window_s = group_window_s
        self.change_lookback_s = change_lookback_s
        self.novel_below = novel_below
        self._open: dict[str, _Open] = {}
        self._changes: list[ChangeEvent] = []

    def on_change(self, change: ChangeEvent) -> None:
        self._changes.append(change)
        horizon = change.ts.timestamp() - 4 * self.change_lookback_s
        self._changes = [c for c in self._changes if c.ts.timestamp() >= horizon]

    def on_anomaly(self, a: Anomaly, now: float) -> list[Incident]:
        if a.suppressed and a.status == "firing":
            return []
        inc = self._find(a)
        if inc is None:
            if a.status != "firing":
                return []
            inc = _Open(new_id("inc"), a.domain, a.onset.timestamp())
            self._open[inc.incident_id] = inc
        inc.anomalies[a.service] = a
        out = self._emit(inc, now)
        if out.status == IncidentStatus.RECOVERED:
            del self._open[inc.incident_id]
        return [out]

    def _find(self, a: Anomaly) -> _Open | None:
        for inc in self._open.values():
            if a.service in inc.anomalies:
                return inc
        for inc in self._open.values():
            last = max(x.ts.timestamp() for x in inc.anomalies.values())
            close = inc.domain == a.domain and a.ts.timestamp() - last <= self.group_window_s
            if close and self._related(a.service, inc.anomalies):
                return inc
        return None

    def _related(self, service: str, others: dict[str, Anomaly]) -> bool:
        if service not in self.graph or not self.graph.number_of_edges():
            return True
        und = self.graph.to_undirected(as_view=True)
        return any(o in und and nx.has_path(und, service, o) for o in others)

    def _emit(self, inc: _Open, now: float) -> Incident:
        firing = {s: a for s, a in inc.anomalies.items() if a.status == "firing"}
        hyps = (
            self.rank(firing, inc.opened_at)
            if firing
            else (inc.last.hypotheses if inc.last else [])
        )
        status = (
            IncidentStatus.RECOVERED
            if not firing
            else (IncidentStatus.OPEN if inc.revision == 0 else IncidentStatus.UPDATED)
        )
        conf = hyps[0].score if hyps else 0.0
        novel = not hyps or hyps[0].fault_class == FaultClass.UNKNOWN or conf < self.novel_below
        top = hyps[0] if hyps else None
        summary = (
            f"{top.fault_class} on {top.service} ({conf:.2f})" if top else "no hypothesis"
        ) + f"; {len(firing)} anomalous service(s)"
        out = Incident(
            incident_id=inc.incident_id,
            domain=inc.domain,
            status=status,
            revision=inc.revision,
            opened_at=to_datetime(inc.opened_at),
            ts=to_datetime(now),
            services=sorted(inc.anomalies),
            anomaly_ids=[a.anomaly_id for a in inc.anomalies.values()],
            hypotheses=hyps,
            confidence=conf,
            novel=novel,
            summary=summary,
        )
        inc.revision += 1
        inc.last = out
        return out

    # -- ranking -----------------------------------------------------------------------------
    def rank(self, firing: dict[str, Anomaly], onset: float) -> list[Hypothesis]:
        """Hypotheses for a set of firing anomalies (by service), best first."""
        cands: dict[tuple[str, FaultClass], tuple[float, list[Evidence], str | None]] = {}

        def add(
            svc: str, fc: FaultClass, score: float, ev: list[Evidence], cid: str | None
        ) -> None:
            key = (svc, fc)
            if key not in cands or cands[key][0] < score:
                cands[key] = (score, ev, cid)

        logs = {s: _log_classes(a) for s, a in firing.items()}
        for c in self._suspect_changes(onset):
            self._change_hypothesis(c, firing, logs, add)
        for svc, a in firing.items():
            self._signature_hypothesis(svc, a, firing, logs, add)
        ranked = sorted(cands.items(), key=lambda kv: -kv[1][0])[:8]
        return [
            Hypothesis(
                rank=i + 1,
                service=svc,
                fault_class=fc,
                score=min(1.0, sc),
                change_id=cid,
                evidence_for=ev[:16],
                actions=ACTIONS[fc],
            )
            for i, ((svc, fc), (sc, ev, cid)) in enumerate(ranked)
        ]

    def _suspect_changes(self, onset: float) -> list[ChangeEvent]:
        out = []
        for c in self._changes:
            t = c.ts.timestamp()
            if c.change_type in (ChangeType.CERTIFICATE_EXPIRY, ChangeType.CREDENTIAL_EXPIRY):
                t = c.expires_at.timestamp() if c.expires_at else t
            if (
                onset - self.change_lookback_s <= t <= onset + 120
                and c.change_type in _CHANGE_CLASS
            ):
                out.append(c)
        return out

    def _change_hypothesis(self, c, firing, logs, add) -> None:  # type: ignore[no-untyped-def]
        fc = _CHANGE_CLASS[c.change_type]
        ev = [
            Evidence(
                kind=EvidenceKind.CHANGE,
                service=c.service,
                ts=c.ts,
                ref=c.change_id,
                weight=0.5,
                summary=f"{c.change_type} {c.version or ''} near the onset",
            )
        ]
        score = 0.45
        if c.service in firing:
            score += 0.35
            ev.append(_anomaly_evidence(firing[c.service]))
        near = [s for s in firing if c.service in self._downstream(s)]
        if near:
            score += 0.2
            ev.append(
                Evidence(
                    kind=EvidenceKind.TOPOLOGY,
                    service=c.service,
                    weight=0.2,
                    summary=f"called by anomalous {', '.join(sorted(near))}",
                )
            )
        want = _CHANGE_LOG.get(fc)
        if want and any(want in classes for classes in logs.values()):
            score += 0.3
            ev.append(
                Evidence(
                    kind=EvidenceKind.LOG_BURST,
                    service=c.service,
                    weight=0.3,
                    summary=f"{want} errors in logs",
                )
            )
        elif want:
            score -= 0.3
        add(c.service, fc, score, ev, c.change_id)

    def _signature_hypothesis(self, svc, a, firing, logs, add) -> None:  # type: ignore[no-untyped-def]
        names = {s.name for s in a.signals}
        downstream_anomalous = [d for d in self._downstream(svc) if d in firing and d != svc]
        base = 0.35 if downstream_anomalous else 0.55
        ev = [_anomaly_evidence(a)]
        for cls in logs[svc]:
            if cls in _LOG_CLASS:
                add(svc, _LOG_CLASS[cls], base + 0.3, ev, None)
            if cls == "upstream_unavailable":
                for callee in self.graph.successors(svc) if svc in self.graph else []:
                    add(
                        callee,
                        FaultClass.DEPENDENCY_OUTAGE,
                        0.7 + (0.1 if callee in firing else 0),
                        [
                            *ev,
                            Evidence(
                                kind=EvidenceKind.TOPOLOGY,
                                service=callee,
                                weight=0.2,
                                summary=f"{svc} cannot reach it",
                            ),
                        ],
                        None,
                    )
        if "memory_mb" in names and _up(a, "memory_mb"):
            add(svc, FaultClass.MEMORY_LEAK, base + 0.25, ev, None)
        if names & {"saturation", "cpu"} and (_up(a, "saturation") or _up(a, "cpu")):
            add(svc, FaultClass.SATURATION, base + 0.2, ev, None)
        add(svc, FaultClass.UNKNOWN, base - 0.15, ev, None)

    def _downstream(self, svc: str) -> set[str]:
        if svc not in self.graph:
            return set()
        return set(nx.descendants(self.graph, svc))


def _log_classes(a: Anomaly) -> set[str]:
    return {s.name.split(":", 1)[1] for s in a.signals if s.name.startswith("log_errors:")}


def _up(a: Anomaly, name: str) -> bool:
    return any(s.name == name and s.direction == "up" and s.score >= 0.8 for s in a.signals)


def _anomaly_evidence(a: Anomaly) -> Evidence:
    sigs = ", ".join(
        f"{s.name} {s.direction} ({s.value:.3g} vs {s.baseline:.3g})" for s in a.signals[:4]
    )
    return Evidence(
        kind=EvidenceKind.ANOMALY,
        service=a.service,
        ts=a.onset,
        ref=a.anomaly_id,
        weight=a.score,
        summary=sigs[:1000],
    )
