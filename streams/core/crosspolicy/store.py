"""Where the customer index lives: the interface, and the in-process store replay uses.

The Redis store (:mod:`streams.redis_store`) implements the same interface for live work;
the tests run every detector case against both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.index import (
    Claim,
    Entry,
    Merge,
    Request,
    RosterEntry,
    View,
    merge_holder,
    merge_person,
    policy_summaries,
)


@dataclass
class CustomerRecord:
    """What the index knows of one person (by keyed hash): their policies (as
    :func:`~streams.core.crosspolicy.index.policy_summaries` gives them) and the cross-policy
    alerts raised about them."""

    policies: dict[str, Entry] = field(default_factory=dict)
    alerts: list[dict[str, str]] = field(default_factory=list)


class CrossStore(Protocol):
    async def exchange(self, request: Request) -> View:
        """Apply the request's writes, then read what it asks for, as one atomic step."""

    async def claim(self, claims: list[Claim]) -> set[str]:
        """The ids of the claims whose alert this claim's event owns (first claimant wins)."""

    async def load_roster(self, entries: dict[str, RosterEntry]) -> None:
        """Replace the whole roster at once: readers see the old one or the new one."""

    async def roster_present(self) -> bool:
        """Has a roster been loaded into this store (even an empty one, on purpose)? A store
        restarted empty says no, so checks that need the roster can wait for it."""

    async def customer(self, person: str) -> CustomerRecord: ...

    async def close(self) -> None: ...


class Backend(Protocol):
    """Where an in-process index keeps its records: a dictionary, or a file for a book too large
    for memory. Merging stays in :class:`LocalStore`, the same for both."""

    def entries(self, table: str, key: str) -> dict[str, Entry]: ...

    def put(self, table: str, key: str, field: str, entry: Entry) -> None: ...

    def delete(self, table: str, key: str, field: str) -> None:
        """Drop one field: a full key making room for a newer entry."""

    def claim(self, alert_id: str, owner: str) -> str:
        """The owner on record after offering ``owner`` (the first offer wins)."""

    def add_ref(self, person: str, ref: dict[str, str]) -> None: ...

    def refs(self, person: str) -> list[dict[str, str]]: ...


class MemoryBackend:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Entry]]] = {"id": {}, "mob": {}}
        self.claims: dict[str, str] = {}
        self.alerts: dict[str, list[dict[str, str]]] = {}

    def entries(self, table: str, key: str) -> dict[str, Entry]:
        # The live dictionary: a view is read before the next exchange changes it.
        return self.tables[table].get(key, {})

    def put(self, table: str, key: str, field: str, entry: Entry) -> None:
        self.tables[table].setdefault(key, {})[field] = entry

    def delete(self, table: str, key: str, field: str) -> None:
        self.tables[table].get(key, {}).pop(field, None)

    def claim(self, alert_id: str, owner: str) -> str:
        return self.claims.setdefault(alert_id, owner)

    def add_ref(self, person: str, ref: dict[str, str]) -> None:
        refs = self.alerts.setdefault(person, [])
        if ref not in refs:
            refs.append(ref)

    def refs(self, person: str) -> list[dict[str, str]]:
        return list(self.alerts.get(person, []))


class LocalStore:
    """The index in this process, on a :class:`Backend`: replay's store when no ``REDIS_URL`` is
    set (in a dictionary), the audit's (in a file). Entries live as long as the backend (a run),
    so retention does not apply."""

    def __init__(self, config: CrossPolicyConfig | None = None, backend: Backend | None = None) -> None:
        self.config = config or CrossPolicyConfig()
        self.backend: Backend = backend if backend is not None else MemoryBackend()
        self.roster: dict[str, RosterEntry] = {}
        self.roster_loaded = False

    async def exchange(self, request: Request) -> View:
        config, backend = self.config, self.backend
        self._write("id", request.identities, config.policies_per_person, merge_person)
        self._write("mob", request.uses, config.holders_per_mobile,
                    lambda old, new: merge_holder(old, new, config.policies_per_mobile))
        return View(
            persons={p: backend.entries("id", p) for p in request.persons},
            mobiles={m: backend.entries("mob", m) for m in request.mobiles},
            roster={m: self.roster[m] for m in request.roster if m in self.roster},
        )

    def _write(self, table: str, writes: list[tuple[str, str, Entry]], cap: int, merge: Merge) -> None:
        """Each write merged into what is stored, or (a new field) added: on a full key in place of
        the entry last seen longest ago, unless the write is older still (then it is dropped).
        Mirrors :func:`~streams.core.crosspolicy.index.put_capped` on a backend's key."""
        for key, name, entry in writes:
            stored = self.backend.entries(table, key)
            old = stored.get(name)
            if old is not None:
                self.backend.put(table, key, name, merge(old, entry))
                continue
            if len(stored) >= cap:
                oldest = min(stored, key=lambda field: (stored[field]["l"], field))
                if (entry["l"], name) < (stored[oldest]["l"], oldest):
                    continue  # older than everything kept: dropped
                self.backend.delete(table, key, oldest)
            self.backend.put(table, key, name, entry)

    async def claim(self, claims: list[Claim]) -> set[str]:
        owned = set()
        for claim in claims:
            if self.backend.claim(claim.alert_id, claim.owner) == claim.owner:
                owned.add(claim.alert_id)
                ref = {"alert_id": claim.alert_id, "alert_type": claim.alert_type, "policy_no": claim.policy_no}
                for person in claim.persons:
                    self.backend.add_ref(person, ref)
        return owned

    async def load_roster(self, entries: dict[str, RosterEntry]) -> None:
        self.roster = dict(entries)
        self.roster_loaded = True

    async def roster_present(self) -> bool:
        return self.roster_loaded or bool(self.roster)

    async def customer(self, person: str) -> CustomerRecord:
        return CustomerRecord(policy_summaries(self.backend.entries("id", person)), self.backend.refs(person))

    async def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


class MemoryStore(LocalStore):
    """The index in dictionaries (replay without ``REDIS_URL``, tests)."""

    def __init__(self, config: CrossPolicyConfig | None = None) -> None:
        self.memory = MemoryBackend()
        super().__init__(config, self.memory)

    @property
    def persons(self) -> dict[str, dict[str, Entry]]:
        return self.memory.tables["id"]

    @property
    def mobiles(self) -> dict[str, dict[str, Entry]]:
        return self.memory.tables["mob"]

    @property
    def claims(self) -> dict[str, str]:
        return self.memory.claims

    @property
    def alerts(self) -> dict[str, list[dict[str, str]]]:
        return self.memory.alerts
