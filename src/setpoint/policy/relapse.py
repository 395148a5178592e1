"""When a resolved incident deserves another look: the decide stage's rule for reopening a case
whose fix did not hold, or that another fault joined.

The diagnose stage keeps an incident open while its signals keep firing, after the decide stage
is done with it: a fault that a fix only held back for a while (a leak a restart empties, which
fills again) fires again in the same incident, and a fault starting soon after nearby joins it.
Leaving either there would leave a fault the engine knows how to address waiting for a page that
never comes. Acting again on a fix that did not hold, within the attempts cap, buys time; past
it the envelope refuses and the case escalates (a fix that keeps being needed is a human's).

An incident it escalated is not reopened: once a human is paged the incident is theirs (and the
symptoms of a novel fault drift between known classes as they grow: acting on them would be
acting on a guess). Pure: values in, a reason (or ``None``) out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from setpoint.schemas import FaultClass, Incident, Verb
from setpoint.schemas.verbs import Reversibility, spec

__all__ = ["Settled", "reopen_reason"]


@dataclass
class Settled:
    """What a case knew when it last settled (resolved or escalated)."""

    resolved: bool
    anomalies: frozenset[str]
    tops: frozenset[tuple[str, str]]
    """The leading (service, fault class) pairs the case acted (or escalated) on."""
    last_action: float
    """Event time of its last action (``-inf``: none)."""


def reopen_reason(
    s: Settled, inc: Incident, attempts: int, max_attempts: int, cooldown_s: float, now: float
) -> str | None:
    """Why the settled case of ``inc`` should be acted on again, or ``None``.

    Only a resolved case, with anomalies it had not seen, past the cooldown of its last action,
    whose leading hypothesis is a known class with a verb, and either

    * a pair (service, fault class) it never handled: another fault joined the incident after
      the fix (the decider takes it through the envelope and the confidence gate as any), or
    * the pair it fixed, with a verb that resets a state that fills again (``restart``,
      ``flush_cache``: the verbs without an inverse): the fix did not hold.

    A novel or recovered incident is never reopened.
    """
    if inc.novel or inc.status == "recovered" or not inc.hypotheses or not s.resolved:
        return None
    if not set(inc.anomaly_ids) - s.anomalies or now - s.last_action < cooldown_s:
        return None
    top = inc.hypotheses[0]
    pair = (top.service, str(top.fault_class))
    acts = [v for v in top.actions if v != Verb.ESCALATE]
    if not acts or top.fault_class == FaultClass.UNKNOWN:
        return None
    if pair not in s.tops:
        # Another fault joined the incident after the fix and now leads it.
        return f"{pair[0]}: {pair[1]} now leads the diagnosis, after a fix"
    if any(spec(v).reversibility != Reversibility.STATELESS for v in acts):
        # A verb that changes the configuration (scale, rollback, shift, renew) stands once it
        # worked: a second one would compound it. Only a reset of a state that fills again (a
        # restart empties memory, a flush a cache) can be needed again for the same fault.
        return None
    # Past the attempts cap the envelope refuses the next one, and the case escalates: a fix
    # that keeps being needed (a leak in the code) is a human's to make.
    return f"{pair[0]}: {pair[1]} fired again after a fix (attempt {attempts + 1}/{max_attempts})"


def pairs(inc: Incident, extra: Collection[tuple[str, str]] = ()) -> frozenset[tuple[str, str]]:
    """The leading pair of ``inc`` with ``extra``."""
    top = inc.hypotheses[:1]
    return frozenset({*extra, *((h.service, str(h.fault_class)) for h in top)})
