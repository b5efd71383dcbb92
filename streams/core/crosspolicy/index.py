"""The customer index's records and how a write merges into what is stored.

Both stores apply exactly these merges (the Redis store in a Lua script that mirrors
:func:`merge_identity` and :func:`merge_use`; the tests run every detector case against
both). Merges are idempotent and order-tolerant: a re-delivered event changes nothing, and
an older event read after a newer one does not roll a policy's entry back.

Times are whole epoch seconds: Lua's numbers and Redis scores read them exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Entry = dict[str, Any]
"""A stored record, JSON-shaped with one-letter keys (a million customers, every byte counts)."""


def identity_entry(*, identity: str, at: int, event_id: str, actor: list[Any], roles: list[str],
                   channel: str | None, branch_code: str | None) -> Entry:
    """One person on one policy: ``k`` which values they appear with, ``t`` the latest event
    time, ``s`` since when these values (with ``e`` the event and ``a`` the actor that brought
    them), ``r`` their roles, ``c`` / ``b`` the policy's channel and branch."""
    return {"k": identity, "t": at, "s": at, "e": event_id, "a": actor, "r": roles, "c": channel, "b": branch_code}


def merge_identity(old: Entry | None, new: Entry) -> Entry:
    if old is None:
        return new
    if new["t"] < old["t"]:
        return old  # an older event read late: the policy has moved on
    if new["k"] == old["k"]:
        return {**new, "s": old["s"], "e": old["e"], "a": old["a"]}
    return new


def use_entry(*, at: int, event_id: str, actor: list[Any], policy_no: str, channel: str | None,
              branch_code: str | None) -> Entry:
    """One policyholder on one mobile: ``f`` / ``l`` first and last use, ``e`` / ``a`` / ``c`` /
    ``b`` of the first use, ``p`` the policies they used it on."""
    return {"f": at, "l": at, "e": event_id, "a": actor, "p": [policy_no], "c": channel, "b": branch_code}


def merge_use(old: Entry | None, new: Entry, policies_cap: int) -> Entry:
    if old is None:
        return new
    first = new if new["f"] < old["f"] else old
    policies = list(old["p"])
    for policy in new["p"]:
        if policy not in policies and len(policies) < policies_cap:
            policies.append(policy)
    return {"f": first["f"], "l": max(old["l"], new["l"]), "e": first["e"], "a": first["a"], "p": policies,
            "c": first["c"], "b": first["b"]}


@dataclass(frozen=True, slots=True)
class RosterEntry:
    user_id: str
    role: str
    person: str | None = None
    """The staff member's own ID (keyed hash), when the roster gives it: their own policies raise nothing."""

    def to_entry(self) -> Entry:
        return {"u": self.user_id, "r": self.role, "i": self.person}

    @classmethod
    def from_entry(cls, entry: Entry) -> RosterEntry:
        return cls(entry["u"], entry["r"], entry.get("i"))


@dataclass
class Request:
    """One batch's exchange with the index: every write, then every read, in one round trip."""

    identities: list[tuple[str, str, Entry]] = field(default_factory=list)
    """(person, policy_no, entry)"""
    uses: list[tuple[str, str, Entry]] = field(default_factory=list)
    """(mobile, holder, entry)"""
    persons: set[str] = field(default_factory=set)
    mobiles: set[str] = field(default_factory=set)
    roster: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.identities or self.uses or self.persons or self.mobiles or self.roster)


@dataclass
class View:
    """What the index holds for the batch's people and mobiles, its own writes included."""

    persons: dict[str, dict[str, Entry]] = field(default_factory=dict)
    mobiles: dict[str, dict[str, Entry]] = field(default_factory=dict)
    roster: dict[str, RosterEntry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Claim:
    """An alert about to be emitted, claimed by the event that found it.

    The first event to claim an alert owns it; only its owner emits it, and emits it again
    if it is re-delivered (its batch was not committed), so a crash never loses an alert
    and a later event never repeats one."""

    alert_id: str
    owner: str
    alert_type: str
    policy_no: str
    persons: tuple[str, ...] = ()
    """People the alert concerns: the customer view lists it under each."""
