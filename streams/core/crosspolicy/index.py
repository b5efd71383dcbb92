"""The customer index's records and how a write merges into what is stored.

The index keeps *facts*, never a policy's "current" values alone: that a person was recorded
on a policy with a given name / birth date / gender (each field on its own), and that a
policyholder used a mobile on a policy. A fact is anchored on the first event of its policy
that recorded it (its time, the event, its actor: :class:`Anchor`) and spans the event times it
was seen at (earliest and latest). Because a policy's own events always arrive in
their order, the anchor is the same whatever the batching or the interleaving of policies,
and the spans only grow: the detectors' answers are a function of the facts, not of which
policy was read first (see :mod:`streams.core.crosspolicy.detectors`). A value that existed
only between two events of one batch is a fact like any other.

Both stores apply exactly these merges (the Redis store in a Lua script that mirrors
:func:`merge_person` and :func:`merge_holder`; the tests run every detector case against
both). Merges are idempotent: a re-delivered event changes nothing.

Caps keep the *newest* entries: when a key (or a nested map) is full, the entry last seen
longest ago (smallest ``l``, then smallest name) makes room; a write older than everything
kept is dropped, writes nothing and refreshes no expiry.

Times are whole epoch seconds: Lua's numbers and JSON read them exactly.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Entry = dict[str, Any]
"""A stored record, JSON-shaped with one-letter keys (a million customers, every byte counts)."""

Fact = list[Any]
"""One fact, as a JSON array: ``[m, l]`` the earliest and latest event time it was seen at, then
its anchor when the record does not imply it: ``f`` time, ``e`` event, ``a`` actor, and for a
person's value ``r`` their roles, for a mobile's use ``c`` / ``b`` the policy's channel and branch."""

Merge = Callable[[Any, Any], Any]

VALUES_PER_FIELD = 8
"""Distinct values kept per (person, policy, field): a policy whose name is rewritten again and
again costs no more than this (the newest are kept)."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """The event that first recorded a fact: what an alert about the fact says."""

    at: int
    event_id: str
    actor: list[Any]
    roles: list[str] | None = None
    channel: str | None = None
    branch_code: str | None = None


def last_seen(entry: Entry | Fact) -> int:
    """The time a record or a fact was last seen at: what the caps keep the newest by."""
    return int(entry["l"] if isinstance(entry, dict) else entry[1])


def merge_fact(old: Fact, new: Fact) -> Fact:
    """The first sighting stays the anchor (a policy's events arrive in order); the span grows."""
    return [min(old[0], new[0]), max(old[1], new[1]), *old[2:]]


def put_capped(entries: dict[str, Any], name: str, new: Any, cap: int, merge: Merge) -> bool:
    """Merge ``new`` into ``entries[name]``, or add it, making room by dropping the entry last seen
    longest ago (then the smallest name) when ``cap`` is reached. False: ``new`` is older than
    everything kept and is dropped (nothing changes). The Lua script's ``put_capped`` is this."""
    old = entries.get(name)
    if old is not None:
        entries[name] = merge(old, new)
        return True
    if len(entries) < cap:
        entries[name] = new
        return True
    oldest = min(entries, key=lambda key: (last_seen(entries[key]), key))
    if (last_seen(new), name) < (last_seen(entries[oldest]), oldest):
        return False
    del entries[oldest]
    entries[name] = new
    return True


# -- a person on a policy -------------------------------------------------------------------------


def person_entry(*, at: int, event_id: str, actor: list[Any], roles: list[str], attributes: dict[str, str],
                 channel: str | None, branch_code: str | None) -> Entry:
    """One person on one policy as one event records them: ``f`` / ``l`` first and last event time,
    ``e`` / ``a`` / ``r`` the first event, its actor and the person's roles in it, ``c`` / ``b``
    the policy's channel and branch then, ``v`` field → keyed value → :data:`Fact` (``[m, l]``
    when the first event recorded it: most values, in a third of the bytes)."""
    return {"f": at, "l": at, "e": event_id, "a": actor, "r": sorted(roles), "c": channel, "b": branch_code,
            "v": {name: {value: [at, at]} for name, value in attributes.items()}}


def merge_person(old: Entry, new: Entry, values_cap: int = VALUES_PER_FIELD) -> Entry:
    """Facts accumulate per field; the record's first event stays. A value first recorded by a
    later event carries that event as its own anchor."""
    values: dict[str, dict[str, Fact]] = {name: dict(kept) for name, kept in old["v"].items()}
    for name, incoming in new["v"].items():
        kept = values.setdefault(name, {})
        for value, sighting in incoming.items():
            if value not in kept and new["e"] != old["e"]:
                sighting = [*sighting[:2], new["f"], new["e"], new["a"], new["r"]]
            put_capped(kept, value, sighting, values_cap, merge_fact)
    return {**old, "l": max(old["l"], new["l"]), "v": values}


def value_anchor(entry: Entry, held: Fact) -> Anchor:
    """The event that first recorded a person's value on a policy."""
    if len(held) > 2:
        return Anchor(held[2], held[3], held[4], roles=held[5], channel=entry.get("c"), branch_code=entry.get("b"))
    return Anchor(entry["f"], entry["e"], entry["a"], roles=entry.get("r"), channel=entry.get("c"),
                  branch_code=entry.get("b"))


# -- a policyholder on a mobile -------------------------------------------------------------------


def holder_entry(*, at: int, event_id: str, actor: list[Any], policy_no: str, channel: str | None,
                 branch_code: str | None) -> Entry:
    """One policyholder on one mobile: ``l`` their latest use, ``p`` policy → :data:`Fact` of the
    mobile's use on that policy, anchored on the policy's first event that carried it."""
    return {"l": at, "p": {policy_no: [at, at, at, event_id, actor, channel, branch_code]}}


def merge_holder(old: Entry, new: Entry, policies_cap: int) -> Entry:
    policies = dict(old["p"])
    for policy, use in new["p"].items():
        put_capped(policies, policy, use, policies_cap, merge_fact)
    return {"l": max(old["l"], new["l"]), "p": policies}


def use_anchor(use: Fact) -> Anchor:
    """The event that first recorded a policyholder's mobile on a policy."""
    return Anchor(use[2], use[3], use[4], channel=use[5], branch_code=use[6])


def span(holder: Entry) -> tuple[int, int]:
    """(earliest, latest) use of the mobile by one policyholder, over their policies."""
    uses = holder["p"].values()
    return min(use[0] for use in uses), max(use[1] for use in uses)


# -- what the customer view shows ------------------------------------------------------------------


def current_values(entry: Entry) -> dict[str, tuple[str, Fact]]:
    """Per field, the value seen last on the policy (then the latest first sighting, then the value)."""
    current: dict[str, tuple[str, Fact]] = {}
    for name, values in entry["v"].items():
        if values:
            value = max(values, key=lambda v: (values[v][1], value_anchor(entry, values[v]).at, v))
            current[name] = (value, values[value])
    return current


def policy_summaries(entries: dict[str, Entry]) -> dict[str, Entry]:
    """A person's policies as the customer view reads them: ``k`` the values seen last (the
    detectors' identity string), ``s`` since when, ``t`` the latest event, ``c`` / ``b`` / ``r``."""
    summaries = {}
    for policy, entry in entries.items():
        current = current_values(entry)
        identity = "|".join(f"{name}={value}" for name, (value, _) in sorted(current.items()))
        since = max((value_anchor(entry, held).at for _, held in current.values()), default=entry["f"])
        summaries[policy] = {"k": identity, "s": since, "t": entry["l"], "c": entry.get("c"), "b": entry.get("b"),
                             "r": entry.get("r")}
    return summaries


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
    """One batch's exchange with the index: every write (in arrival order, so each policy's facts
    are anchored on its first event), then every read, in one round trip."""

    identities: list[tuple[str, str, Entry]] = field(default_factory=list)
    """(person, policy_no, :func:`person_entry`)"""
    uses: list[tuple[str, str, Entry]] = field(default_factory=list)
    """(mobile, holder, :func:`holder_entry`)"""
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
    and a later event never repeats one. Which event finds an alert first may depend on
    arrival order; the alert's content never does (it is built from anchored facts)."""

    alert_id: str
    owner: str
    alert_type: str
    policy_no: str
    persons: tuple[str, ...] = ()
    """People the alert concerns: the customer view lists it under each."""
