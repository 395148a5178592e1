"""Judging an action while other faults overlap it: what the verify stage leaves out when the
incident's diagnosis names other roots behind the action's target.

Faults that start together land in one incident (a storm). The diagnosis then names several
roots, and those among the target's callees hurt the target and its callers through the target:
a rollback that fixed the target's own defect leaves its callers failing, and the target's own
error rate high, with the errors of the calls it makes to the others. Judged on those, a fix that
worked reads as one that did not, and is undone. So, while other roots sit behind the target,
the action is judged on the target alone, and on its own errors: the error logs that are the
other roots' (about its calls out, ``upstream_*``, or of a kind that names another root's fault
class, ``tls_handshake`` behind an expired certificate) are taken out, and its error rate counts
only its own share of the errors it logs. Pure: values in, values out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from setpoint.causal.faults import log_class_fault
from setpoint.causal.metrics import classify
from setpoint.schemas import FaultClass, Hypothesis

__all__ = ["other_roots", "own_slis"]

_LOGS = "log_errors"
_PREFIX = _LOGS + ":"


def other_roots(
    hyps: Iterable[Hypothesis], target: str, callees: Mapping[str, frozenset[str]], depth: int = 2
) -> dict[str, FaultClass]:
    """Services behind ``target`` (its callees, ``depth`` hops deep) that the hypotheses
    ``hyps`` of its incident name as roots of a known fault class of their own, with it.

    Examples
    --------
    >>> def h(rank, svc, fc):
    ...     return Hypothesis(rank=rank, service=svc, fault_class=fc, score=0.8)
    >>> hyps = [h(1, "web", "bad_deploy"), h(2, "db", "dependency_outage"), h(3, "kv", "unknown")]
    >>> other_roots(hyps, "web", {"web": frozenset({"api"}), "api": frozenset({"db", "kv"})})
    {'db': <FaultClass.DEPENDENCY_OUTAGE: 'dependency_outage'>}
    """
    behind: set[str] = set()
    frontier = {target}
    for _ in range(depth):
        frontier = {c for s in frontier for c in callees.get(s, frozenset())} - behind
        behind |= frontier
    behind.discard(target)
    out: dict[str, FaultClass] = {}
    for h in hyps:
        if h.service in behind and h.fault_class is not FaultClass.UNKNOWN:
            out.setdefault(h.service, h.fault_class)
    return out


def own_slis(slis: Mapping[str, float], others: Iterable[FaultClass] = ()) -> dict[str, float]:
    """``slis`` with the errors that are other roots' (about calls out, or naming one of the
    fault classes ``others``) taken out of ``log_errors`` and, in proportion, of ``error_rate``
    (unchanged without per-class error-log counts).

    Examples
    --------
    >>> own_slis({"error_rate": 0.5, "log_errors": 10.0, "log_errors:exception": 2.0,
    ...           "log_errors:upstream_error": 8.0})["log_errors"]
    2.0
    >>> own_slis({"error_rate": 0.5, "log_errors": 10.0})["error_rate"]
    0.5
    >>> tls = {"log_errors": 10.0, "log_errors:tls_handshake": 10.0}
    >>> own_slis(tls)["log_errors"], own_slis(tls, [FaultClass.EXPIRED_CERTIFICATE])["log_errors"]
    (10.0, 0.0)
    """
    out = dict(slis)
    classes = {n: v for n, v in slis.items() if n.startswith(_PREFIX)}
    total = sum(classes.values())
    if not classes or total <= 0:
        return out
    foreign = set(others)
    outbound = sum(v for n, v in classes.items() if _foreign(n[len(_PREFIX) :], foreign))
    share = 1.0 - outbound / total
    if _LOGS in out:
        out[_LOGS] = max(0.0, out[_LOGS] - outbound)
    if "error_rate" in out:
        out["error_rate"] = out["error_rate"] * share
    return out


def _foreign(error_class: str, others: set[FaultClass]) -> bool:
    return classify(error_class).outbound or log_class_fault(error_class) in others
