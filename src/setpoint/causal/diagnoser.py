"""The diagnose stage's logic: anomalies in, incidents (with ranked hypotheses) out.

The stream agent hands it every value the stage consumes (anomalies, health summaries, changes,
spans, logs) and sends the incidents it returns. Related anomalies (close in the graph and in
time) share one incident and one id; each new member or piece of evidence publishes a new
revision; when every member has recovered the incident closes. Time is the event time of the
values, never the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from setpoint import snapshot
from setpoint.causal.config import DiagnosisConfig
from setpoint.causal.evidence import ChangeLog, LogBook, change_time, collect
from setpoint.causal.graph import DependencyGraph
from setpoint.causal.incidents import IncidentState, Member, confidence, hypotheses
from setpoint.causal.metrics import SYMPTOM_KINDS, MetricKind, classify
from setpoint.causal.ranking import NodeScore, rank
from setpoint.causal.series import SeriesStore
from setpoint.clock import to_datetime
from setpoint.errors import DecodeError
from setpoint.schemas import (
    Anomaly,
    ChangeEvent,
    Incident,
    IncidentStatus,
    LogEvent,
    ServiceHealth,
    TraceSpan,
    new_id,
)

__all__ = ["Diagnoser"]

_STATE_MODULES = ("setpoint.causal", "setpoint.schemas")

_MAX_SCOPE = 5000
_ONSET_KINDS = {*SYMPTOM_KINDS, MetricKind.CPU, MetricKind.MEMORY}


class Diagnoser:
    """Groups anomalies into incidents and ranks their root causes.

    Parameters
    ----------
    graph
        The dependency graph (declared topology; spans extend it as they arrive). A networkx
        caller -> callee graph (``Topology.graph()``) is accepted and converted.
    config
        The stage's hyper-parameters.
    store
        Where series values are kept (a fresh :class:`SeriesStore` by default).

    Examples
    --------
    >>> from setpoint.clock import to_datetime
    >>> from setpoint.schemas import AnomalousSignal
    >>> g = DependencyGraph.from_edges([("web", "api")])
    >>> diag = Diagnoser(g)
    >>> for t in range(40):
    ...     for svc, slow in (("web", 600.0), ("api", 560.0)):
    ...         v = 100.0 + t % 5 if t < 35 else slow
    ...         diag.on_health(ServiceHealth(service=svc, ts=to_datetime(t), anomalous=t >= 35,
    ...                                      slis={"latency_ms": v}))
    >>> def anomaly(svc):
    ...     sig = AnomalousSignal(name="latency_ms", value=600.0, baseline=100.0, score=0.99,
    ...                           direction="up", onset=to_datetime(35))
    ...     return Anomaly(anomaly_id=f"a-{svc}", service=svc, ts=to_datetime(39),
    ...                    onset=to_datetime(35), score=0.99, signals=[sig])
    >>> first = diag.on_anomaly(anomaly("web"))[0]
    >>> second = diag.on_anomaly(anomaly("api"))[0]
    >>> second.incident_id == first.incident_id, second.revision, second.hypotheses[0].service
    (True, 1, 'api')
    """

    def __init__(
        self,
        graph: DependencyGraph | nx.DiGraph | None = None,
        config: DiagnosisConfig | None = None,
        store: SeriesStore | None = None,
    ) -> None:
        if isinstance(graph, nx.DiGraph):
            graph = DependencyGraph.from_networkx(graph)
        self.graph = graph if graph is not None else DependencyGraph()
        self.config = config or DiagnosisConfig()
        self.store = store if store is not None else SeriesStore()
        self._logs = LogBook()
        self._changes = ChangeLog()
        self._incidents: dict[str, IncidentState] = {}
        self._by_anomaly: dict[str, str] = {}
        self._domain_of: dict[str, str] = {}
        """service -> the failure domain its health and anomalies were keyed by."""
        self._now = 0.0

    # -- input -----------------------------------------------------------------------------
    def on_health(self, health: ServiceHealth) -> None:
        """A detect stage health summary: the values of every series of one service."""
        self.store.on_health(health)
        self._domain_of[health.service] = health.domain
        self._news(health.service, health.ts.timestamp())

    def on_span(self, span: TraceSpan) -> None:
        """A trace span: learns (and refreshes) the caller → callee edge."""
        self.graph.observe_span(span)
        self._news(span.callee, span.ts.timestamp())

    def on_log(self, log: LogEvent) -> None:
        self._logs.on_log(log)
        self._news(log.service, log.ts.timestamp())

    def on_change(self, change: ChangeEvent) -> list[Incident]:
        """A deploy, config change or expiry: re-ranks the open incidents it may explain."""
        self._changes.on_change(change)
        t = change.ts.timestamp()
        self._now = max(self._now, t)
        out = []
        for st in self._open():
            near = st.onset - self.config.change_lookback_s <= change_time(change)
            if near and change.service in self._scope(st):
                out.append(self._publish(st, IncidentStatus.UPDATED))
        return out

    def on_anomaly(self, anomaly: Anomaly, now: float | None = None) -> list[Incident]:
        """A detect stage anomaly: opens or extends an incident, or marks its recovery.

        ``now`` is the stage's event-time clock, if it runs ahead of the anomaly's own time.
        """
        self.store.on_anomaly(anomaly)
        self._domain_of[anomaly.service] = anomaly.domain
        self._now = max(self._now, anomaly.ts.timestamp(), now or 0.0)
        iid = self._by_anomaly.get(anomaly.anomaly_id)
        if anomaly.status == "resolved":
            return self._resolve(iid, anomaly) if iid else []
        if anomaly.suppressed:
            return []
        if iid is not None:
            st = self._incidents[iid]
            st.members[anomaly.anomaly_id].firing = True
            st.calm_since = None
            return [self._publish(st, IncidentStatus.UPDATED)]
        return [self._join(anomaly)]

    def open_incident(
        self, onset: float, now: float, services: Iterable[str] = (), reason: str = ""
    ) -> Incident:
        """Open an incident from outside detection (an SLO alert, a page, a known onset).

        Without ``services`` every node known to the graph or the series store is in scope.
        """
        self._now = max(self._now, now)
        reported = set(services)
        first = next(iter(sorted(reported)), "")
        st = IncidentState(
            incident_id=new_id("inc"),
            domain=self.graph.domain_of(first) if first else "default",
            opened_at=now,
            onset=onset,
            reported=reported,
            whole_graph=not reported,
            last_news=now,
        )
        self._incidents[st.incident_id] = st
        return self._publish(st, IncidentStatus.OPEN, summary_prefix=reason)

    def tick(self, now: float) -> list[Incident]:
        """Periodic work at event time ``now``: close the incidents whose signals stayed
        recovered for ``recovery_hold_s`` (or, opened from outside, that stayed quiet), re-rank
        those with new evidence (at most every ``rediagnose_s``), forget old state."""
        self._now = max(self._now, now)
        out: list[Incident] = []
        for st in self._open():
            if st.firing():
                calm = False
            elif st.calm_since is not None:
                calm = now - st.calm_since >= self.config.recovery_hold_s
            else:
                calm = now - st.last_news >= self.config.quiet_close_s
            if calm:
                out.append(self._publish(st, IncidentStatus.RECOVERED))
            elif st.dirty and now - st.last_diagnosed >= self.config.rediagnose_s:
                out.append(self._publish(st, IncidentStatus.UPDATED))
        self.graph.expire(now)
        self._forget(now)
        return out

    # -- queries ---------------------------------------------------------------------------
    def incidents(self) -> list[str]:
        """Ids of the incidents held (open ones and recently closed ones)."""
        return list(self._incidents)

    def ranking(self, incident_id: str) -> list[NodeScore]:
        """The full ranking behind an incident's latest revision, best first."""
        return list(self._incidents[incident_id].ranking)

    # -- hand-over (a domain's partition moves to another worker) ---------------------------
    def domains(self) -> list[str]:
        """The failure domains this stage holds state for."""
        return sorted(
            {st.domain for st in self._incidents.values()} | set(self._domain_of.values())
        )

    def snapshot(self, domain: str) -> bytes:
        """Everything this stage knows that belongs to ``domain``: its incidents and the recent
        values of its services (the graph, logs and changes are every worker's: not included).

        Examples
        --------
        >>> from setpoint.clock import to_datetime
        >>> a, b = Diagnoser(), Diagnoser()
        >>> a.on_health(ServiceHealth(service="api", domain="shop", ts=to_datetime(5),
        ...                           anomalous=False, slis={"latency_ms": 100.0}))
        >>> b.restore(a.snapshot("shop")), b.store.names("api")
        ('shop', ['latency_ms'])
        """
        incidents = {i: st for i, st in self._incidents.items() if st.domain == domain}
        services = sorted(s for s, d in self._domain_of.items() if d == domain)
        state = (
            domain,
            incidents,
            {a: i for a, i in self._by_anomaly.items() if i in incidents},
            services,
            self.store.take(services),
            self._now,
        )
        return snapshot.dump(state)

    def restore(self, data: bytes) -> str:
        """Take over a domain from a :meth:`snapshot` (replacing what this stage had of it);
        ``DecodeError`` for bytes that are not one."""
        state = snapshot.load(data, _STATE_MODULES)
        if not (isinstance(state, tuple) and len(state) == 6 and isinstance(state[0], str)):
            msg = "diagnosis snapshot has an unexpected shape"
            raise DecodeError(msg)
        domain, incidents, by_anomaly, services, series, now = state
        self.drop([domain])
        self._incidents.update(incidents)
        self._by_anomaly.update(by_anomaly)
        self._domain_of.update(dict.fromkeys(services, domain))
        self.store.put(series)
        self._now = max(self._now, float(now))
        return str(domain)

    def drop(self, domains: Iterable[str]) -> None:
        """Forget ``domains`` (their partition moved to another worker)."""
        gone = set(domains)
        for iid in [i for i, st in self._incidents.items() if st.domain in gone]:
            del self._incidents[iid]
        self._by_anomaly = {a: i for a, i in self._by_anomaly.items() if i in self._incidents}
        services = [s for s, d in self._domain_of.items() if d in gone]
        self.store.drop(services)
        for s in services:
            del self._domain_of[s]

    # -- internals -------------------------------------------------------------------------
    def _open(self) -> list[IncidentState]:
        return [st for st in self._incidents.values() if not st.closed]

    def _news(self, service: str, t: float) -> None:
        self._now = max(self._now, t)
        for st in self._open():
            if st.whole_graph or service in st.services():
                st.dirty = True
                st.last_news = max(st.last_news, t)

    def _join(self, anomaly: Anomaly) -> Incident:
        onset = anomaly.onset.timestamp()
        member = Member(anomaly.anomaly_id, anomaly.service, onset)
        for st in sorted(self._open(), key=lambda s: s.opened_at):
            if st.related(anomaly.service, onset, self.graph, self.config):
                st.members[anomaly.anomaly_id] = member
                st.calm_since = None
                st.first_alert = min(st.first_alert, onset)
                self._by_anomaly[anomaly.anomaly_id] = st.incident_id
                return self._publish(st, IncidentStatus.UPDATED)
        domain = (
            self.graph.domain_of(anomaly.service)
            if anomaly.service in self.graph
            else anomaly.domain
        )
        st = IncidentState(new_id("inc"), domain, self._now, onset, {anomaly.anomaly_id: member})
        self._incidents[st.incident_id] = st
        self._by_anomaly[anomaly.anomaly_id] = st.incident_id
        return self._publish(st, IncidentStatus.OPEN)

    def _resolve(self, iid: str, anomaly: Anomaly) -> list[Incident]:
        st = self._incidents[iid]
        if st.closed:
            return []
        st.members[anomaly.anomaly_id].firing = False
        if st.firing():
            return [self._publish(st, IncidentStatus.UPDATED)]
        st.calm_since = self._now
        if self.config.recovery_hold_s <= 0:
            return [self._publish(st, IncidentStatus.RECOVERED)]
        return [self._publish(st, IncidentStatus.UPDATED, "all signals recovered")]

    def _scope(self, st: IncidentState) -> set[str]:
        if st.whole_graph:
            return set(self.graph.nodes()) | set(self.store.services())
        scope = set(st.services())
        for svc in list(scope):
            scope.update(self.graph.descendants(svc, self.config.explain_depth))
            if len(scope) > _MAX_SCOPE:
                break
        return scope

    def _publish(
        self, st: IncidentState, status: IncidentStatus, summary_prefix: str = ""
    ) -> Incident:
        now = max(self._now, st.opened_at)
        if not st.reported and st.searched != len(st.members):
            st.onset = self._change_point(st)
            st.searched = len(st.members)
        evidence = collect(
            self._scope(st), st.onset, now, (self.store, self._logs, self._changes),
            self.graph, self.config,
        )  # fmt: skip
        st.ranking = rank(evidence, self.graph, self.config, st.onset)
        hyps = hypotheses(st.ranking, evidence, self.graph, self.config)
        conf, novel = confidence(hyps, self.config)
        st.revision += 1
        st.status = status
        st.dirty = False
        st.last_diagnosed = now
        st.last_news = max(st.last_news, now)
        top = f"{hyps[0].service}: {hyps[0].fault_class.value}" if hyps else "no candidate"
        summary = f"{summary_prefix + ': ' if summary_prefix else ''}{top}, confidence {conf:.2f}"
        return Incident(
            incident_id=st.incident_id,
            domain=st.domain,
            status=status,
            revision=st.revision,
            opened_at=to_datetime(st.opened_at),
            ts=to_datetime(now),
            services=sorted(st.services())[:1024],
            anomaly_ids=list(st.members)[:4096],
            hypotheses=hyps,
            confidence=conf,
            novel=novel,
            summary=(summary + (" (novel: escalate)" if novel else ""))[:1024],
        )

    def _change_point(self, st: IncidentState) -> float:
        """The incident's onset, moved back to when its services' signals really started to
        move (alerts fire late: after a hold, after attenuated symptoms reach a threshold), at
        most ``onset_search_s`` earlier than its first alert."""
        start = st.first_alert - self.config.onset_search_s
        candidates = [
            (svc, name, traits.bad)
            for svc in st.services()
            for name in self.store.names(svc)
            if (traits := classify(name)).bad and traits.kind in _ONSET_KINDS
        ]
        found = self.store.departures(candidates, start, st.first_alert)
        return min([st.first_alert, *found])

    def _forget(self, now: float) -> None:
        horizon = now - 4 * self.config.quiet_close_s
        for iid in [i for i, st in self._incidents.items() if st.closed and st.last_news < horizon]:
            st = self._incidents.pop(iid)
            for aid in st.members:
                self._by_anomaly.pop(aid, None)
        self._changes.forget_before(now)
        self.store.forget_before(now - self.config.memory_s)
