"""The kill switch's state: freezes and revocations, rebuilt from control events in any order.

Every control event carries an epoch (one more than the last). A command carries the epoch its
issuer knew. A command is refused when:

* it was issued before the latest freeze (``epoch < freeze epoch``), even once unfrozen: what was
  queued before a kill switch never runs;
* a revocation matching its agent, verb and scope is active (whatever its epoch: the authority is
  gone, not only the commands already issued);
* a matching revocation was restored at epoch R and the command was issued before R (it was
  issued while, or before, its authority was revoked).
"""

from __future__ import annotations

import fnmatch

from setpoint.schemas import ControlAction, ControlEvent

_Key = tuple[str, str, str]


class Revocations:
    """Freezes and revocations as the evaluating stage has seen them.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> r = Revocations()
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> r.apply(ControlEvent(control_id="c1", action="revoke", epoch=4, ts=t, agent="bot"))
    >>> r.blocking("bot", "restart", "api", None, epoch=9)
    'agent bot, verb *, scope * is revoked (epoch 4)'
    >>> r.apply(ControlEvent(control_id="c2", action="restore", epoch=5, ts=t, agent="bot"))
    >>> r.blocking("bot", "restart", "api", None, epoch=4)
    'issued at epoch 4, before agent bot, verb *, scope * was restored at epoch 5'
    >>> r.blocking("bot", "restart", "api", None, epoch=5) is None
    True
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.freeze_epoch = 0
        self.unfreeze_epoch = 0
        self._revoked: dict[_Key, int] = {}
        self._restored: dict[_Key, int] = {}

    @property
    def frozen(self) -> bool:
        return self.freeze_epoch > self.unfreeze_epoch

    def apply(self, ev: ControlEvent) -> None:
        """Take one control event into account (idempotent; order does not matter)."""
        self.epoch = max(self.epoch, ev.epoch)
        key = (ev.agent, ev.verb, ev.scope)
        if ev.action == ControlAction.FREEZE:
            self.freeze_epoch = max(self.freeze_epoch, ev.epoch)
        elif ev.action == ControlAction.UNFREEZE:
            self.unfreeze_epoch = max(self.unfreeze_epoch, ev.epoch)
        elif ev.action == ControlAction.REVOKE:
            self._revoked[key] = max(self._revoked.get(key, 0), ev.epoch)
        else:
            self._restored[key] = max(self._restored.get(key, 0), ev.epoch)

    def blocking(
        self, agent: str, verb: str, target: str, tier: int | None, epoch: int | None
    ) -> str | None:
        """Why a command (``epoch``; ``None``: one about to be issued) may not run, or ``None``."""
        if epoch is not None and epoch < self.freeze_epoch:
            return f"issued at epoch {epoch}, before the freeze at epoch {self.freeze_epoch}"
        for key, revoked in self._revoked.items():
            if not _matches(key, agent, verb, target, tier):
                continue
            name = f"agent {key[0]}, verb {key[1]}, scope {key[2]}"
            restored = self._restored.get(key, -1)
            if revoked > restored:
                return f"{name} is revoked (epoch {revoked})"
            if epoch is not None and epoch < restored:
                return f"issued at epoch {epoch}, before {name} was restored at epoch {restored}"
        return None

    def active(self) -> list[tuple[str, str, str, int]]:
        """Revocations in force: ``(agent, verb, scope, epoch)``."""
        return [(*k, e) for k, e in self._revoked.items() if e > self._restored.get(k, -1)]


def _matches(key: _Key, agent: str, verb: str, target: str, tier: int | None) -> bool:
    a, v, scope = key
    if a != "*" and not fnmatch.fnmatchcase(agent, a):
        return False
    if v not in ("*", verb):
        return False
    if scope.startswith("tier:"):
        return tier is not None and scope == f"tier:{tier}"
    return scope == "*" or fnmatch.fnmatchcase(target, scope)
