"""The three cross-policy detectors: an observation and the index's view in, candidate alerts out.

An alert about two policies, or about a mobile's users, is built only from what the index
holds about them, never from which of them happened to be read first, and its id from the
sorted pair (or the mobile and its window): two policies on different partitions give the
same alert whichever arrives first.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.alert import Alert, AlertChange, Penalty, Responsible
from schemas.enums import ActorRole, AlertSeverity, AlertType, Channel
from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.index import Claim, Entry, View
from streams.core.crosspolicy.observation import Observation
from streams.core.detection.records import fine_zh, penalized, policy_alert, responsible_of, stable_id, who_zh
from streams.core.evaluate import CHINA_STANDARD_TIME
from streams.core.labels_zh import field_zh, party_zh


@dataclass(frozen=True, slots=True)
class Candidate:
    alert: Alert
    claim: Claim


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def moment(seconds: int | float) -> datetime:
    """Index times back as event times, on the insurer's clock (+08:00)."""
    return datetime.fromtimestamp(seconds, tz=UTC).astimezone(CHINA_STANDARD_TIME)


def actor_list(actor: dict[str, Any]) -> list[Any]:
    return [actor.get("user_id"), actor.get("role"), actor.get("supervisor_id")]


def responsible_from(stored: list[Any] | None) -> Responsible | None:
    """The actor an index entry keeps (:func:`actor_list`) as the alert's responsible."""
    if not stored:
        return None
    user_id, role, supervisor = (list(stored) + [None, None, None])[:3]
    return responsible_of({"user_id": user_id, "role": role, "supervisor_id": supervisor})


# -- STAFF_PHONE_AS_CUSTOMER ---------------------------------------------------------------


def staff_phones(obs: Observation, view: View, now: datetime,
                 penalties: dict[ActorRole, Penalty | None]) -> list[Candidate]:
    """A customer's mobile is a staff member's roster mobile; the staff member's own policies
    (they are a party, known by the roster's ID column) are exempt."""
    # A roster ID is keyed whatever its document type; one loaded before that was keyed as a
    # resident ID, and still finds the staff member that way.
    people = {sighting.person for sighting in obs.sightings} | obs.documents
    found: dict[tuple[str, str], tuple[Any, str, list[str]]] = {}
    for phone in obs.phones:
        staff = view.roster.get(phone.mobile)
        if staff is None or (staff.person is not None and staff.person in people):
            continue
        _, _, parties = found.setdefault((staff.user_id, phone.mobile), (staff, phone.mobile_masked, []))
        parties += phone.parties
    candidates = []
    for (user_id, mobile), (staff, masked, parties) in found.items():
        entered_by = obs.actor.get("user_id")
        responsible, penalty = penalized({
            "user_id": user_id, "role": staff.role,
            "supervisor_id": obs.actor.get("supervisor_id") if entered_by == user_id else None,
        }, penalties)
        where = "、".join(party_zh(party) for party in parties)
        alert = policy_alert(
            AlertType.STAFF_PHONE_AS_CUSTOMER, key_event="|".join((obs.policy_no, user_id, mobile)),
            policy_no=obs.policy_no, channel=Channel(obs.channel) if obs.channel else None,
            branch_code=obs.branch_code, now=now, event_time=obs.at,
            source_event_ids=[obs.event_id],
            changes=[AlertChange(party=party, field="mobile", new=masked) for party in parties],
            responsible=responsible,
            penalty=penalty,
            evidence={"staff": {"user_id": user_id, "role": staff.role, "mobile": masked},
                      "entered_by": {"user_id": entered_by, "role": obs.actor.get("role")},
                      "parties": parties},
            summary_zh=(
                f"保单{obs.policy_no}的{where}手机号码{masked}是{who_zh(responsible)}在员工/代理人名册中的手机号码，"
                f"回访和通知将到达该员工而非客户{fine_zh(responsible, penalty)}；请核实并联系客户更正。"
            ),
        )
        claim = Claim(alert.alert_id, obs.event_id, alert.alert_type.value, obs.policy_no,
                      tuple(p.person for p in obs.phones if p.mobile == mobile and p.person is not None))
        candidates.append(Candidate(alert, claim))
    return candidates


# -- IDENTITY_CONFLICT -------------------------------------------------------------------------


def attributes_of(identity: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in identity.split("|") if "=" in part)
    return {name: digest for name, digest in pairs}


def differing(one: str, other: str) -> list[str]:
    """The fields both records give, with different values."""
    mine, theirs = attributes_of(one), attributes_of(other)
    return sorted(name for name in mine.keys() & theirs.keys() if mine[name] != theirs[name])


def identities_of(entries: dict[str, Entry]) -> dict[str, list[str]]:
    """One person's policies grouped by the values they appear with, each group in the order
    its values appeared (then by policy number)."""
    groups: dict[str, list[str]] = {}
    for policy, entry in entries.items():
        groups.setdefault(entry["k"], []).append(policy)
    for policies in groups.values():
        policies.sort(key=lambda p: (entries[p]["s"], p))
    return groups


def conflicts_of(entries: dict[str, Entry], identity: str | None = None,
                 groups: dict[str, list[str]] | None = None) -> list[tuple[str, str, list[str], str]]:
    """Conflicting values of one ID number, each pair of value sets once, named by the first
    policy of each: (older policy, newer policy, fields, the pair's key). ``identity``: only
    the pairs with that value set (the observed policy's), O(distinct value sets).
    ``groups``: :func:`identities_of` the entries, when the caller has it already."""
    groups = groups if groups is not None else identities_of(entries)
    keys = sorted(groups)
    pairs = [(identity, other) for other in keys if other != identity] if identity is not None else [
        (one, other) for i, one in enumerate(keys) for other in keys[i + 1:]]
    found = []
    for one, other in pairs:
        fields = differing(one, other)
        if not fields or one not in groups:
            continue
        older, newer = sorted((groups[one][0], groups[other][0]), key=lambda p: (entries[p]["s"], p))
        found.append((older, newer, fields, "\x1e".join(sorted((one, other)))))
    return found


def identity_conflicts(obs: Observation, view: View, now: datetime,
                       grouped: dict[str, dict[str, list[str]]] | None = None) -> list[Candidate]:
    """One alert per pair of conflicting value sets of an ID number (whichever policies carry
    them, however many): a typo on one of a group policyholder's thousand policies is one case.
    ``grouped``: a cache of :func:`identities_of` per person, shared across one batch."""
    grouped = grouped if grouped is not None else {}
    candidates = []
    for sighting in obs.sightings:
        entries = view.persons.get(sighting.person, {})
        mine = entries.get(obs.policy_no)
        if mine is None:
            continue  # not indexed: a person on more policies than the index keeps, or an older event
        if sighting.person not in grouped:
            grouped[sighting.person] = identities_of(entries)
        for older, newer, fields, pair in conflicts_of(entries, mine["k"], grouped[sighting.person]):
            old, new = entries[older], entries[newer]
            what = "、".join(field_zh(name) for name in fields)
            alert = Alert(
                alert_id=stable_id(AlertType.IDENTITY_CONFLICT.value, sighting.person, pair),
                alert_type=AlertType.IDENTITY_CONFLICT,
                severity=AlertSeverity.HIGH,
                policy_no=newer,
                channel=new.get("c"),
                branch_code=new.get("b"),
                detected_at=now,
                event_time=moment(new["s"]),
                source_event_ids=[old["e"], new["e"]],
                responsible=responsible_from(new.get("a")),
                penalty=None,
                evidence={
                    "id_no": sighting.id_masked,
                    "fields": fields,
                    "other_policy_no": older,
                    "policies": [
                        {"policy_no": policy, "channel": entries[policy].get("c"), "roles": entries[policy].get("r"),
                         "since": moment(entries[policy]["s"]).isoformat()}
                        for policy in (older, newer)
                    ],
                },
                summary_zh=(
                    f"证件号码{sighting.id_masked}在保单{older}与保单{newer}上的{what}不一致，"
                    f"请核实客户身份并更正有误的一方。"
                ),
            )
            candidates.append(Candidate(alert, Claim(alert.alert_id, obs.event_id, alert.alert_type.value, newer,
                                                     (sighting.person,))))
    return candidates


# -- SHARED_CONTACT -----------------------------------------------------------------------------


def shared_windows(holders: dict[str, Entry], min_ids: int, window_s: float) -> list[tuple[int, list[str]]]:
    """Each window of ``window_s`` in which ``min_ids`` or more distinct policyholders used the
    mobile, as (end, members), earliest first, windows not overlapping: the first ends at
    the earliest moment the count is reached, the next no sooner than a window later.

    A holder counts in the window ending at T when their uses, first to last, reach into it.
    O(H log H): ends only move forward, so a holder whose last use fell out never returns."""
    found: list[tuple[int, list[str]]] = []
    ordered = sorted(holders.items(), key=lambda item: (item[1]["f"], item[0]))
    inside: list[tuple[int, str]] = []  # (last use, holder), a heap
    not_before: float | None = None
    position = 0
    while position < len(ordered):
        end = ordered[position][1]["f"]
        while position < len(ordered) and ordered[position][1]["f"] == end:
            holder, entry = ordered[position]
            heapq.heappush(inside, (entry["l"], holder))
            position += 1
        while inside and inside[0][0] < end - window_s:
            heapq.heappop(inside)
        if len(inside) >= min_ids and (not_before is None or end >= not_before):
            found.append((end, sorted(holder for _, holder in inside)))
            not_before = end + window_s
    return found


def shared_contacts(obs: Observation, view: View, now: datetime, config: CrossPolicyConfig,
                    windows: dict[str, list[tuple[int, list[str]]]] | None = None) -> list[Candidate]:
    """``windows``: a cache of :func:`shared_windows` per mobile, shared across one batch."""
    use = obs.use
    if use is None:
        return []
    holders = view.mobiles.get(use.mobile, {})
    window_s = config.shared_contact_window_days * 86_400
    windows = windows if windows is not None else {}
    if use.mobile not in windows:
        windows[use.mobile] = shared_windows(holders, config.shared_contact_min_ids, window_s)
    candidates = []
    for end, members in windows[use.mobile]:
        if use.holder not in members:
            continue
        ordered = sorted(members, key=lambda h: (holders[h]["f"], h))
        closing = holders[ordered[-1]]
        policies = sorted({policy for holder in members for policy in holders[holder]["p"]})
        alert = Alert(
            alert_id=stable_id(AlertType.SHARED_CONTACT.value, use.mobile, str(end)),
            alert_type=AlertType.SHARED_CONTACT,
            severity=AlertSeverity.WARNING,
            policy_no=min(closing["p"]),
            channel=closing.get("c"),
            branch_code=closing.get("b"),
            detected_at=now,
            event_time=moment(end),
            source_event_ids=[holders[holder]["e"] for holder in ordered],
            responsible=responsible_from(closing.get("a")),
            penalty=None,
            evidence={
                "mobile": use.mobile_masked,
                "distinct_id_numbers": len(members),
                "threshold": config.shared_contact_min_ids,
                "window_days": config.shared_contact_window_days,
                "window_start": moment(end - window_s).isoformat(),
                "window_end": moment(end).isoformat(),
                "policies": policies,
            },
            summary_zh=(
                f"手机号码{use.mobile_masked}在{config.shared_contact_window_days:g}天内被{len(members)}位"
                f"证件号码不同的投保人使用（保单{'、'.join(policies[:5])}{'等' if len(policies) > 5 else ''}），"
                f"可能由销售人员或中介代填，请核实。"
            ),
        )
        candidates.append(Candidate(alert, Claim(alert.alert_id, obs.event_id, alert.alert_type.value,
                                                 alert.policy_no, tuple(members))))
    return candidates

