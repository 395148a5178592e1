"""Stage 3, decide. Pure: no I/O.

Input: incidents with ranked hypotheses, action results, verifications, approval decisions and
control events. Output: signed commands, approval requests, escalations and, for every proposal,
a policy decision (allow, approval, advisory, shadow, deny) with the policy's hash and the rules
that fired. Invariants: one action at a time per incident; an irreversible verb is never
autonomous; a refusal is a value, never an exception; the caps hold whatever a rule says.
"""

from setpoint.policy.decide import Decided, Decider, Outputs, Phase
from setpoint.policy.envelope import LiveState, PolicyEnvelope, Proposal, ServiceInfo
from setpoint.policy.model import Effect, Limits, Policy, PolicyFile, Rule
from setpoint.policy.signing import sign, verify

__all__ = [
    "Decided",
    "Decider",
    "Effect",
    "Limits",
    "LiveState",
    "Outputs",
    "Phase",
    "Policy",
    "PolicyEnvelope",
    "PolicyFile",
    "Proposal",
    "Rule",
    "ServiceInfo",
    "sign",
    "verify",
]
