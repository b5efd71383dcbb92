"""Where the customer index lives: the interface, and the in-process store replay uses.

The Redis store (:mod:`streams.redis_store`) implements the same interface for live work;
the tests run every detector case against both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.index import Claim, Entry, Request, RosterEntry, View, merge_identity, merge_use


@dataclass
class CustomerRecord:
    """What the index knows of one person (by keyed hash): their policies and the
    cross-policy alerts raised about them."""

    policies: dict[str, Entry] = field(default_factory=dict)
    alerts: list[dict[str, str]] = field(default_factory=list)


class CrossStore(Protocol):
    async def exchange(self, request: Request) -> View:
        """Apply the request's writes, then read what it asks for, as one atomic step."""

    async def claim(self, claims: list[Claim]) -> set[str]:
        """The ids of the claims whose alert this claim's event owns (first claimant wins)."""

    async def load_roster(self, entries: dict[str, RosterEntry]) -> None:
        """Replace the whole roster at once: readers see the old one or the new one."""

    async def customer(self, person: str) -> CustomerRecord: ...

    async def close(self) -> None: ...


class MemoryStore:
    """The index in a dictionary: replay's store when no ``REDIS_URL`` is set. Entries live
    as long as the process (a replay run), so retention does not apply."""

    def __init__(self, config: CrossPolicyConfig | None = None) -> None:
        self.config = config or CrossPolicyConfig()
        self.persons: dict[str, dict[str, Entry]] = {}
        self.mobiles: dict[str, dict[str, Entry]] = {}
        self.roster: dict[str, RosterEntry] = {}
        self.claims: dict[str, str] = {}
        self.alerts: dict[str, list[dict[str, str]]] = {}

    async def exchange(self, request: Request) -> View:
        config = self.config
        for person, policy, entry in request.identities:
            policies = self.persons.setdefault(person, {})
            if policy in policies or len(policies) < config.policies_per_person:
                policies[policy] = merge_identity(policies.get(policy), entry)
        for mobile, holder, entry in request.uses:
            holders = self.mobiles.setdefault(mobile, {})
            if holder in holders or len(holders) < config.holders_per_mobile:
                holders[holder] = merge_use(holders.get(holder), entry, config.policies_per_mobile)
        # The view shares the stored dictionaries: it is read before the next exchange changes them.
        return View(
            persons={p: self.persons.get(p, {}) for p in request.persons},
            mobiles={m: self.mobiles.get(m, {}) for m in request.mobiles},
            roster={m: self.roster[m] for m in request.roster if m in self.roster},
        )

    async def claim(self, claims: list[Claim]) -> set[str]:
        owned = set()
        for claim in claims:
            owner = self.claims.setdefault(claim.alert_id, claim.owner)
            if owner == claim.owner:
                owned.add(claim.alert_id)
                for person in claim.persons:
                    refs = self.alerts.setdefault(person, [])
                    ref = {"alert_id": claim.alert_id, "alert_type": claim.alert_type, "policy_no": claim.policy_no}
                    if ref not in refs:
                        refs.append(ref)
        return owned

    async def load_roster(self, entries: dict[str, RosterEntry]) -> None:
        self.roster = dict(entries)

    async def customer(self, person: str) -> CustomerRecord:
        return CustomerRecord(dict(self.persons.get(person, {})), list(self.alerts.get(person, [])))

    async def close(self) -> None:
        return None
