"""Stage 3, decide. Pure: no I/O.

Input: incidents with ranked hypotheses, action results, verifications, approval decisions,
control events and trust records. Output: signed commands, approval requests, escalations, trust
updates and, for every proposal, a policy decision (allow, approval, advisory, shadow, deny) with
the policy's hash, the rules that fired and the action's blast footprint. Invariants: one action
at a time per incident; an irreversible verb is never autonomous; a refusal is a value, never an
exception; the caps hold whatever a rule says, counting what is in flight across incidents and
agents with each action's dependents; a revoked agent issues nothing that runs.
"""

from setpoint.policy.decide import Decider, Phase
from setpoint.policy.envelope import PolicyEnvelope, Proposal, Verdict
from setpoint.policy.inventory import Inventory, ServiceInfo, touched
from setpoint.policy.model import Limits, Policy, PolicyFile, TrustConfig
from setpoint.policy.outputs import Decided, Outputs
from setpoint.policy.revocation import Revocations
from setpoint.policy.rules import Caps, ChangeFreeze, Effect, Rule, Selector, Subject, Window
from setpoint.policy.signing import SigningKey, VerifyKey, sign, verify
from setpoint.policy.state import Action, LiveState
from setpoint.policy.trust import TrustBook, TrustEvent, scope_of, wilson_lower

__all__ = [
    "Action",
    "Caps",
    "ChangeFreeze",
    "Decided",
    "Decider",
    "Effect",
    "Inventory",
    "Limits",
    "LiveState",
    "Outputs",
    "Phase",
    "Policy",
    "PolicyEnvelope",
    "PolicyFile",
    "Proposal",
    "Revocations",
    "Rule",
    "Selector",
    "ServiceInfo",
    "SigningKey",
    "Subject",
    "TrustBook",
    "TrustConfig",
    "TrustEvent",
    "Verdict",
    "VerifyKey",
    "Window",
    "scope_of",
    "sign",
    "touched",
    "verify",
    "wilson_lower",
]
