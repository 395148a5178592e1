"""The diagnose stage's hyper-parameters: one frozen object, the same for every deployment and
every benchmark (there is no per-dataset switch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from setpoint.causal.metrics import MetricKind

__all__ = ["DiagnosisConfig"]


class DiagnosisConfig(BaseModel):
    """Everything the diagnose stage can be tuned with (event-time seconds, hops, weights).

    Examples
    --------
    >>> DiagnosisConfig().method, DiagnosisConfig(method="pagerank").method
    ('causal', 'pagerank')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["causal", "pagerank", "anomaly"] = "causal"
    """``causal``: anomaly strength, explained away along the graph, plus the anomalies each
    node explains, changes, traces and logs. ``pagerank``: personalised PageRank over the same
    evidence. ``anomaly``: each node's own anomaly only (the graph ignored)."""

    # -- incidents -------------------------------------------------------------------------
    join_window_s: float = 600.0
    """An anomaly joins an open incident when its onset is this close to the incident's."""
    max_hops: int = 3
    """...and when it is this close to one of the incident's services in the graph."""
    recovery_hold_s: float = 120.0
    """An incident closes once its anomalies have all stayed resolved this long (a flapping
    signal that fires again within it stays in the same incident)."""
    quiet_close_s: float = 1800.0
    """An incident opened from outside (no anomaly of its own) closes after this long quiet."""
    onset_search_s: float = 300.0
    """How far before its first alert an incident's onset may be moved back, to where its
    services' signals started to move."""
    rediagnose_s: float = 30.0
    """Evidence arriving for an open incident re-ranks it at most this often."""
    memory_s: float = 6 * 3600.0
    """Series values and changes older than this are forgotten."""

    # -- evidence --------------------------------------------------------------------------
    kind_weights: dict[MetricKind, float] = Field(default_factory=dict)
    """Weight of each metric kind in a node's own anomaly (missing kinds weigh 1.0)."""
    host_weight: float = 0.5
    """Weight of host-level metrics in the service's own anomaly (they describe the host)."""
    change_lookback_s: float = 3600.0
    """Changes up to this long before an onset are suspects."""
    change_grace_s: float = 120.0
    """...and up to this long after it (clocks and pipelines are not exact)."""
    change_decay_s: float = 300.0
    """A change's weight halves every ``change_decay_s`` before the onset (a bad deploy bites
    within minutes)."""
    change_min_recency: float = 0.25
    """Changes weighing less than this (older than two half-lives) are not suspects."""
    log_baseline_s: float = 1800.0
    """Error logs this long before the onset set the expected error-log rate."""

    # -- ranking ---------------------------------------------------------------------------
    explain_depth: int = 2
    """How deep a node's dependencies are searched for what explains its symptoms."""
    explained_weight: float = 0.5
    """How much of its own anomaly a node loses when its dependencies explain it."""
    support_weight: float = 0.5
    """Weight of the anomalies of its dependants that a node explains."""
    edge_weight: float = 1.0
    """Weight of what callers see of a node (client-side metrics, trace error/latency shifts),
    relative to its own signals."""
    sick_own: float = 1.5
    """Own anomaly (log1p of robust deviations: 1.5 is about 3.5) of a clearly sick node."""
    change_weight: float = 2.0
    """Score of a change right at the onset on top of the worst anomaly it could have caused
    (its node's or a dependant's); it halves every ``change_decay_s`` before the onset."""
    new_dependency_weight: float = 0.5
    """Weight of a dependency that appeared at the onset (evidence against the caller)."""
    onset_weight: float = 0.0
    """Bonus of the nodes whose signals changed first (see the README for its measurement)."""
    pagerank_alpha: float = 0.85

    # -- knowing when it does not know -----------------------------------------------------
    novel_below: float = 0.3
    """Confidence under which an incident is novel and escalates."""
    max_hypotheses: int = 10
