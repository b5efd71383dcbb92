"""The three cross-policy detectors: an observation and the index's view in, candidate alerts out.

Every alert is about one *fact* of the index (see :mod:`streams.core.crosspolicy.index`): a
value recorded on a policy, a mobile used on a policy, a staff mobile on a policy. Its id and
its content come from that fact's anchor only, and whether it fires depends only on which
facts exist, never on which was read first: more facts can make an alert true, none can make
it false. So the alerts of a set of events are the same for any batching and any interleaving
of policies (each policy's own events in order), and none ever needs retracting. A policy is
judged *as of its own event time*: against what the other policies recorded up to then, also
when those records arrive later (their arrival finds the alert then).

Each observation looks for the alerts it can have made true: those about its own facts, and
those about other facts it bears witness to. The claim (first claimant wins) decides which
event emits an alert; every claimant would emit the same one.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.alert import Alert, AlertChange, Penalty, Responsible
from schemas.enums import ActorRole, AlertSeverity, AlertType, Channel
from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.index import Anchor, Claim, Entry, View, span, use_anchor, value_anchor
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
    """One person's policies (:func:`~streams.core.crosspolicy.index.policy_summaries`) grouped by
    the values they carry now, each group in the order its values appeared (then by policy)."""
    groups: dict[str, list[str]] = {}
    for policy, entry in entries.items():
        groups.setdefault(entry["k"], []).append(policy)
    for policies in groups.values():
        policies.sort(key=lambda p: (entries[p]["s"], p))
    return groups


def conflicts_of(entries: dict[str, Entry]) -> list[tuple[str, str, list[str], str]]:
    """The customer view's picture of a person today: their policies' current values that
    disagree, each pair of value sets once, named by the first policy of each (older policy,
    newer policy, fields, the pair's key). Alerts are not built from this (see
    :func:`identity_conflicts`)."""
    groups = identities_of(entries)
    keys = sorted(groups)
    found = []
    for i, one in enumerate(keys):
        for other in keys[i + 1:]:
            fields = differing(one, other)
            if fields:
                older, newer = sorted((groups[one][0], groups[other][0]), key=lambda p: (entries[p]["s"], p))
                found.append((older, newer, fields, "\x1e".join((one, other))))
    return found


@dataclass(frozen=True, slots=True)
class ValueFact:
    """One value of one field of a person, as recorded on one policy: seen from ``first`` on
    (the earliest event time it was seen at), first recorded by ``anchor``."""

    policy: str
    value: str
    first: int
    anchor: Anchor


def value_facts(entries: dict[str, Entry], name: str) -> dict[str, list[ValueFact]]:
    """A person's values of field ``name`` on all their policies, grouped by value."""
    groups: dict[str, list[ValueFact]] = {}
    for policy, entry in entries.items():
        for value, held in entry["v"].get(name, {}).items():
            groups.setdefault(value, []).append(ValueFact(policy, value, held[0], value_anchor(entry, held)))
    return groups


def witnesses(other: ValueFact, fact: ValueFact) -> bool:
    """``other`` makes ``fact`` a conflict: another policy, another value, recorded at or before
    ``fact`` was first recorded. However long ago: a policy in force keeps its record for decades
    without an event, and an index entry is forgotten only by the store's retention. Nor does a
    later correction of ``other`` on its own policy undo it: whether it came before ``fact`` could
    still change with what arrives later, and an emitted alert cannot be taken back."""
    return other.policy != fact.policy and other.value != fact.value and other.first <= fact.anchor.at


def conflicting_values(entries: dict[str, Entry], name: str) -> list[ValueFact]:
    """Every value of field ``name`` that some other policy's earlier record contradicts.
    Grouped by value, so one typo against a thousand agreeing policies costs one scan."""
    groups = value_facts(entries, name)
    if len(groups) < 2:
        return []
    return [fact for value, facts in groups.items() for fact in facts
            if any(witnesses(other, fact) for rival, others in groups.items() if rival != value
                   for other in others)]


def anchored_alert(alert_type: AlertType, severity: AlertSeverity, key: tuple[str, ...], policy: str,
                   anchor: Anchor, now: datetime, evidence: dict[str, Any], summary_zh: str) -> Alert:
    """An alert about one fact, built from the fact's anchor (the first event of its policy that
    recorded it) alone: the same alert whichever event finds it, in whatever batch."""
    return Alert(
        alert_id=stable_id(alert_type.value, *key),
        alert_type=alert_type,
        severity=severity,
        policy_no=policy,
        channel=anchor.channel,
        branch_code=anchor.branch_code,
        detected_at=now,
        event_time=moment(anchor.at),
        source_event_ids=[anchor.event_id],
        responsible=responsible_from(anchor.actor),
        penalty=None,
        evidence=evidence,
        summary_zh=summary_zh,
    )


def identity_alert(person: str, id_masked: str, name: str, found: ValueFact, now: datetime) -> Alert:
    """The alert about one policy's value, from that value's anchor: the same whichever event finds it."""
    policy, anchor = found.policy, found.anchor
    return anchored_alert(
        AlertType.IDENTITY_CONFLICT, AlertSeverity.HIGH, (person, policy, name, found.value), policy, anchor, now,
        evidence={
            "id_no": id_masked,
            "fields": [name],
            "roles": anchor.roles,
            "since": moment(anchor.at).isoformat(),
        },
        summary_zh=(
            f"证件号码{id_masked}在保单{policy}上的{field_zh(name)}与该证件号码在其他保单上更早的记录不一致，"
            f"请核实客户身份并更正有误的一方（policyguard customer 可列出该客户的全部保单）。"
        ),
    )


def identity_conflicts(obs: Observation, view: View, now: datetime,
                       cache: dict[tuple[str, str], list[ValueFact]] | None = None) -> list[Candidate]:
    """One alert per (person, policy, field, value) that another policy's earlier record of that
    person contradicts (recorded at or before the value was first recorded: :func:`witnesses`).
    A typo entered after a thousand agreeing policies is one alert, on its policy; a policy whose
    value is corrected later keeps the alert its wrong value raised, and a value is judged even if
    a later event of the same batch corrected it.
    ``cache``: :func:`conflicting_values` per (person, field), shared across one batch."""
    cache = cache if cache is not None else {}
    candidates = []
    for sighting in obs.sightings:
        entries = view.persons.get(sighting.person, {})
        mine = entries.get(obs.policy_no)
        if mine is None or len(entries) < 2:
            continue  # not indexed (older than a full ID number keeps), or on no other policy
        for name, value in sighting.attributes:
            held = mine["v"].get(name, {}).get(value)
            if held is None:
                continue
            if (sighting.person, name) not in cache:
                cache[sighting.person, name] = conflicting_values(entries, name)
            observed = ValueFact(obs.policy_no, value, held[0], value_anchor(mine, held))
            for found in cache[sighting.person, name]:
                if (found.policy, found.value) == (obs.policy_no, value) or witnesses(observed, found):
                    alert = identity_alert(sighting.person, sighting.id_masked, name, found, now)
                    candidates.append(Candidate(alert, Claim(alert.alert_id, obs.event_id, alert.alert_type.value,
                                                             alert.policy_no, (sighting.person,))))
    return candidates


# -- SHARED_CONTACT -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UseFact:
    """One policyholder's use of the mobile on one policy: from ``first`` to ``last``, first
    recorded by ``anchor``."""

    holder: str
    policy: str
    first: int
    last: int
    anchor: Anchor


@dataclass
class Crowd:
    """Who used one mobile when: each policyholder's span, first to last use, as sorted ends."""

    lows: list[int]
    highs: list[int]

    @classmethod
    def of(cls, holders: dict[str, Entry]) -> Crowd:
        spans = [span(entry) for entry in holders.values() if entry["p"]]
        return cls(sorted(low for low, _ in spans), sorted(high for _, high in spans))

    def reaching(self, start: float, end: float) -> int:
        """Policyholders whose span reaches into [start, end]."""
        return bisect_right(self.lows, end) - bisect_left(self.highs, start)

    def crowded(self, first: int, last: int, window_s: float, min_ids: int) -> bool:
        """Some window of ``window_s`` meeting [first, last] is reached by ``min_ids`` policyholders.
        A window's count only rises where its end meets a first use, so those starts suffice."""
        rising = self.lows[bisect_right(self.lows, first):bisect_right(self.lows, last + window_s)]
        return any(self.reaching(start, start + window_s) >= min_ids
                   for start in (first - window_s, *(low - window_s for low in rising)))


def crowded_uses(holders: dict[str, Entry], config: CrossPolicyConfig) -> list[UseFact]:
    """Every policy's use of the mobile that meets a crowded window, by anchor time."""
    if len(holders) < config.shared_contact_min_ids:
        return []  # too few policyholders ever: nothing to count
    crowd = Crowd.of(holders)
    window_s = config.shared_contact_window_days * 86_400
    found = []
    for holder, entry in holders.items():
        for policy, use in entry["p"].items():
            if crowd.crowded(use[0], use[1], window_s, config.shared_contact_min_ids):
                found.append(UseFact(holder, policy, use[0], use[1], use_anchor(use)))
    return sorted(found, key=lambda use: (use.anchor.at, use.holder, use.policy))


def shared_alert(mobile: str, mobile_masked: str, use: UseFact, now: datetime, config: CrossPolicyConfig) -> Alert:
    """The alert about one policy's use of a crowded mobile, from that use's anchor."""
    anchor, days = use.anchor, config.shared_contact_window_days
    return anchored_alert(
        AlertType.SHARED_CONTACT, AlertSeverity.WARNING, (mobile, use.holder, use.policy), use.policy, anchor, now,
        evidence={
            "mobile": mobile_masked,
            "threshold": config.shared_contact_min_ids,
            "window_days": days,
            "used_since": moment(anchor.at).isoformat(),
        },
        summary_zh=(
            f"手机号码{mobile_masked}在{days:g}天内被至少{config.shared_contact_min_ids}位证件号码不同的投保人使用，"
            f"保单{use.policy}的投保人是其中之一，可能由销售人员或中介代填，请核实并向客户确认本人手机号码。"
        ),
    )


def shared_contacts(obs: Observation, view: View, now: datetime, config: CrossPolicyConfig,
                    cache: dict[str, list[UseFact]] | None = None) -> list[Candidate]:
    """One alert per policy on which a policyholder used a mobile, first to last, during some
    window of ``shared_contact_window_days`` in which ``shared_contact_min_ids`` or more
    policyholders (ID numbers) used it; a policyholder counts in a window when their uses, first
    to last, reach into it. Every policy carrying the crowded number is flagged, each by its
    own alert: the set does not depend on who came first, and no alert lists the others (a
    list that a late record could still lengthen). ``cache``: :func:`crowded_uses` per mobile,
    shared across one batch."""
    use = obs.use
    if use is None:
        return []
    holders = view.mobiles.get(use.mobile, {})
    mine = holders.get(use.holder)
    if mine is None or not mine["p"]:
        return []  # not indexed: an older policyholder than a full mobile keeps
    cache = cache if cache is not None else {}
    if use.mobile not in cache:
        cache[use.mobile] = crowded_uses(holders, config)
    if not cache[use.mobile]:
        return []
    window_s = config.shared_contact_window_days * 86_400
    low, high = span(mine)
    candidates = []
    for found in cache[use.mobile]:
        if found.holder == use.holder and found.policy != obs.policy_no:
            continue  # their own other policies: this event changed nothing there
        if found.first - window_s > high or found.last + window_s < low:
            continue  # a window away from every use of this policyholder: not this event's doing
        alert = shared_alert(use.mobile, use.mobile_masked, found, now, config)
        candidates.append(Candidate(alert, Claim(alert.alert_id, obs.event_id, alert.alert_type.value,
                                                 alert.policy_no, (found.holder,))))
    return candidates
