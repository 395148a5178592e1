"""The shop of the demo as the policy sees it, and small builders."""

from __future__ import annotations

from setpoint.policy import Inventory, Policy, PolicyEnvelope, ServiceInfo

SHOP = Inventory(
    {
        "frontend": ServiceInfo(1, 4, ("auth", "catalog", "checkout")),
        "auth": ServiceInfo(1, 4),
        "catalog": ServiceInfo(2, 4, ("inventory",)),
        "checkout": ServiceInfo(2, 2, ("payments", "inventory", "auth")),
        "payments": ServiceInfo(1, 4, ("db",)),
        "inventory": ServiceInfo(2, 4, ("db",)),
        "db": ServiceInfo(0, 4),
    }
)
"""26 instances; ``db`` is called by payments and inventory, which checkout and catalog call."""


def env(text: str, inventory: Inventory = SHOP) -> PolicyEnvelope:
    return PolicyEnvelope(Policy.from_text(text, "policy.yaml"), inventory)
