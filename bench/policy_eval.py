"""Cost of the policy envelope per command, in process: microseconds per evaluation.

Builds a realistic fleet (40 services in 4 tiers, 2-8 replicas, a dependency graph) and a
realistic policy of about 100 rules (per-service and per-verb effects, tier rules, business-hours
windows, region and label selectors, scoped caps, two change freezes, trust on), then evaluates a
fixed stream of proposals against a live state holding a few actions in flight and recent ones.
The same run evaluates the same proposals against a one-rule policy as the baseline and prints
the ratio. The signature costs (HMAC-SHA256 and Ed25519 sign and verify) are printed alongside,
since the actuator pays one verification per command too.

    .venv/bin/python bench/policy_eval.py            # a few seconds
    .venv/bin/python bench/policy_eval.py --quick    # a smoke test

Each evaluation is timed on its own with ``time.perf_counter_ns``; the figure is the median over
every evaluation of ``--repeats`` passes (p95 alongside). Deterministic inputs (seeded).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from setpoint.policy import (
    Inventory,
    LiveState,
    Policy,
    PolicyEnvelope,
    Proposal,
    ServiceInfo,
    sign,
    verify,
)
from setpoint.schemas import PolicyDecision, ScaleCommand, ScaleParams, TrustMode

VERBS = ["restart", "rollback_deploy", "scale", "flush_cache", "renew_certificate",
         "shift_traffic", "rotate_credential"]  # fmt: skip
T0 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC).timestamp()  # a Wednesday, 11:00 UTC


def fleet(n: int = 40, seed: int = 7) -> Inventory:
    rng = random.Random(seed)
    names = [f"svc-{i:02d}" for i in range(n)]
    services = {}
    for i, name in enumerate(names):
        callees = rng.sample(names[i + 1 :], k=min(3, len(names) - i - 1))
        services[name] = ServiceInfo(tier=i * 4 // n, replicas=rng.randint(2, 8),
                                     depends_on=tuple(callees))  # fmt: skip
    return Inventory(services)


def big_policy(inv: Inventory, seed: int = 7) -> str:
    rng = random.Random(seed)
    names = sorted(inv.services)
    lines = [
        "default_effect: advisory",
        "limits: {max_actions_per_minute: 20, max_concurrent: 12, max_concurrent_per_domain: 6,",
        "         max_fleet_share: 0.5, blast_window_s: 300, dependents_depth: 1}",
        "trust: {enabled: true, initial_mode: shadow}",
        "inventory:",
        *[f"  {n}: {{regions: [{'eu' if i % 2 else 'us'}], labels: {{team: t{i % 5}}}}}"
          for i, n in enumerate(names)],
        "freezes:",
        "  - {id: fz-old, start: '2025-12-20T00:00:00Z', end: '2026-01-02T00:00:00Z'}",
        "  - {id: fz-next, start: '2026-11-27T00:00:00Z', end: '2026-11-30T00:00:00Z', "
        "effect: approval}",
        "rules:",
        "  - {id: no-tier0-restart, verbs: [restart], tiers: [0], effect: deny}",
        "  - {id: tier0-caps, tiers: [0], caps: {max_concurrent: 1, max_service_share: 0.25}}",
        "  - {id: pci-approval, labels: {team: t0}, verbs: [rotate_credential], effect: approval}",
    ]  # fmt: skip
    for i in range(60):
        svc, verb = rng.choice(names), rng.choice(VERBS)
        effect = rng.choice(["autonomous", "approval", "advisory", "shadow", "deny"])
        pin = ", pinned: true" if rng.random() < 0.3 else ""
        rule = f"id: r{i:03d}, verbs: [{verb}], services: [{svc}], effect: {effect}{pin}"
        lines.append(f"  - {{{rule}}}")
    for i in range(12):
        lines.append(f"  - {{id: bh{i:02d}, verbs: [{rng.choice(VERBS)}], tiers: [{i % 4}], "
                     "when: {days: [mon, tue, wed, thu, fri], hours: '09:00-18:00', "
                     "tz: Europe/Paris}, effect: autonomous}")  # fmt: skip
    for i in range(10):
        lines.append(f"  - {{id: cap{i:02d}, services: ['svc-{i}*'], "
                     f"caps: {{max_concurrent: 2, max_per_window: 5, window_s: 600, "
                     f"max_fleet_share: 0.3, cooldown_s: 120}}}}")  # fmt: skip
    for i in range(8):
        lines.append(
            f"  - {{id: reg{i}, regions: [{'eu' if i % 2 else 'us'}], "
            f"labels: {{team: t{i % 5}}}, verbs: [{VERBS[i % 7]}], effect: approval}}"
        )
    for i in range(4):
        lines.append(f"  - {{id: tier{i}, tiers: [{i}], effect: advisory}}")
    return "\n".join(lines) + "\n"


def proposals(inv: Inventory, n: int, seed: int = 11) -> list[Proposal]:
    rng = random.Random(seed)
    names = sorted(inv.services)
    modes = [None, TrustMode.SHADOW, TrustMode.ADVISORY, TrustMode.AUTONOMOUS]
    agents = ["setpoint.decide", "canary"]
    out = []
    for i in range(n):
        verb, svc, dom = rng.choice(VERBS), rng.choice(names), rng.choice(["a", "b"])
        out.append(Proposal(verb, svc, dom, f"inc-{i}", rng.choice(agents), rng.randint(1, 3),
                            params={"delta": 2}, trust_mode=rng.choice(modes)))  # fmt: skip
    return out


def live_state(env: PolicyEnvelope, inv: Inventory) -> LiveState:
    state = env.new_state()
    names = sorted(inv.services)
    for i in range(25):
        p = Proposal(VERBS[i % 5], names[(i * 7) % len(names)], "a", f"old-{i}", "setpoint.decide")
        state.started(env.action(p, f"act-{i}", T0 - 2500 + 100 * i))
        if i % 10:
            state.finished(f"act-{i}")
    return state


def time_each(fn: Callable[[Proposal], object], ps: list[Proposal], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        for p in ps:
            t = time.perf_counter_ns()
            fn(p)
            out.append((time.perf_counter_ns() - t) / 1000.0)
    return out


def evaluate_all(env: PolicyEnvelope, inv: Inventory, ps: list[Proposal], r: int) -> list[float]:
    state = live_state(env, inv)
    return time_each(lambda p: env.evaluate(p, state, T0), ps, r)


def signing_costs(repeats: int) -> dict[str, float]:
    t = datetime.fromtimestamp(T0, UTC)
    cmd = ScaleCommand(command_id="c", incident_id="i", agent="a", target="svc-01",
                       idempotency_key="k", issued_at=t, expires_at=t, params=ScaleParams(delta=2),
                       decision=PolicyDecision(outcome="allow", policy_hash="h", ts=t))  # fmt: skip
    ed, secret = Ed25519PrivateKey.generate(), b"x" * 32
    pub = ed.public_key()
    signed_ed, signed_h = sign(cmd, ed), sign(cmd, secret)
    cases: dict[str, Callable[[], object]] = {
        "hmac sign": lambda: sign(cmd, secret), "hmac verify": lambda: verify(signed_h, secret),
        "ed25519 sign": lambda: sign(cmd, ed), "ed25519 verify": lambda: verify(signed_ed, pub),
    }  # fmt: skip
    out = {}
    for name, fn in cases.items():
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            fn()
            ts.append((time.perf_counter_ns() - t0) / 1000.0)
        out[name] = statistics.median(ts)
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[int(0.95 * (len(xs) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proposals", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n, r = (50, 1) if a.quick else (a.proposals, a.repeats)
    inv = fleet()
    text = big_policy(inv)
    big = PolicyEnvelope(Policy.from_text(text, "bench.yaml"), inv)
    one = PolicyEnvelope(Policy.from_text(
        "rules: [{id: all, verbs: ['*'], effect: autonomous}]", "one.yaml"), inv)  # fmt: skip
    ps = proposals(inv, n)
    evaluate_all(big, inv, ps[:20], 1)  # warm up
    t_big = evaluate_all(big, inv, ps, r)
    t_one = evaluate_all(one, inv, ps, r)
    outcomes: dict[str, int] = {}
    state = live_state(big, inv)
    for p in ps:
        o = str(big.evaluate(p, state, T0).outcome)
        outcomes[o] = outcomes.get(o, 0) + 1
    rules = len(big.policy.file.rules) + len(big.policy.file.freezes)
    print(f"fleet: {len(inv.services)} services, {inv.fleet_instances} instances; "
          f"policy: {rules} rules and freezes; {n} proposals x {r} passes")  # fmt: skip
    print(f"outcomes with the big policy: {dict(sorted(outcomes.items()))}")
    print(f"{'policy':<28}{'median us':>12}{'p95 us':>10}")
    print(f"{'~100 rules (realistic)':<28}{statistics.median(t_big):>12.1f}{p95(t_big):>10.1f}")
    print(f"{'1 rule (baseline)':<28}{statistics.median(t_one):>12.1f}{p95(t_one):>10.1f}")
    print(f"ratio: {statistics.median(t_big) / statistics.median(t_one):.1f}x")
    for name, us in signing_costs(200 if a.quick else 2000).items():
        print(f"{name:<28}{us:>12.1f}")


if __name__ == "__main__":
    main()
