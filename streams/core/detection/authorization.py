"""Whether an endorsement (保全) is the customer's own, authorized request (docs/contract.md §2.3),
and which one covers an edit.

Endorsements are read as a history: an endorsement number's events are accumulated whatever
order they arrive in (evidence given when it was requested is not erased by a sparse approval;
a number returned and resubmitted is judged on its latest decision), and for each person and
field the latest authorized change approved by the edit's time is the one that counts: a value
an earlier endorsement set and a later one replaced covers nothing any more.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from schemas.endorsement_event import Authorization, EndorsementEvent
from schemas.enums import Applicant, CustomerSignature, EndorsementType, IdVerification, OtpTarget
from schemas.person import CONTACT_FIELDS
from streams.core.ages import age_on
from streams.core.canonical import insurer_date
from streams.core.detection.contacts import contact_value
from streams.core.detection.state import (
    ContactChange,
    EndorsementFact,
    EndorsementRecord,
    EndorsementView,
    Layout,
    PolicyState,
    Slot,
)


def evidence_of(auth: Authorization) -> set[str]:
    """The kinds of evidence one event's authorization gives.

    An OTP to the NEW mobile proves nothing: whoever swaps the number controls it.
    """
    found = set()
    if auth.customer_signature in (CustomerSignature.WET_INK, CustomerSignature.E_SIGN):
        found.add("signed")
    if auth.id_verification is not None:
        found.add("id_check")
    if auth.id_verification is IdVerification.FACE_LIVENESS:
        found.add("face")
    if auth.otp_verified_to is OtpTarget.OLD_MOBILE:
        found.add("otp_old_mobile")
    if auth.power_of_attorney_ref is not None:
        found.add("power_of_attorney")
    return found


def record_endorsement(state: PolicyState, event: EndorsementEvent) -> EndorsementRecord:
    """Add one endorsement event to what is known of its number. What the endorsement says is
    read from its events as of a moment (:meth:`EndorsementRecord.as_of`), so the order they
    arrive in never matters."""
    record = state.endorsements.get(event.endorsement_no) or EndorsementRecord(endorsement_no=event.endorsement_no)
    auth = event.authorization
    record.facts.append(EndorsementFact(
        status=event.event_type.value,
        at=event.occurred_at,
        endorsement_type=event.endorsement_type.value if event.endorsement_type is not None else None,
        applicant=auth.applicant if auth is not None else None,
        evidence=sorted(evidence_of(auth)) if auth is not None else [],
        changes=[(c.party, c.field, contact_value(c.field, c.old), contact_value(c.field, c.new))
                 for c in event.changes] if event.changes else None,
    ))
    state.endorsements[event.endorsement_no] = record
    return record


def _slot(slots: list[Slot], label: str) -> Slot | None:
    return next((slot for slot in slots if slot.label == label), None)


def _is_minor(slot: Slot, on: date, adult_age: int) -> bool:
    return slot.birth_date is not None and age_on(slot.birth_date, on) < adult_age


def authorized_for(record: EndorsementView, person: str | None, party: str, slots: list[Slot],
                   on: date, adult_age: int) -> bool:
    """Is this endorsement the request of the customer whose data it changes?

    POLICYHOLDER applies for the policyholder and for insureds under 18; INSURED for an
    insured; an ATTORNEY with a power of attorney and an ID check for anyone; and in every
    case with customer evidence. AGENT and STAFF never: the customer must apply.
    """
    if not record.customer_evidence:
        return False
    target = [slot for slot in slots if slot.label == party or (person is not None and slot.person == person)]
    as_insured = [slot for slot in target if slot.label.startswith("insureds")]
    if record.applicant is Applicant.POLICYHOLDER:
        is_holder = any(slot.label == "policyholder" for slot in target) or party == "policyholder"
        return is_holder or any(_is_minor(slot, on, adult_age) for slot in as_insured)
    if record.applicant is Applicant.INSURED:
        return bool(as_insured) or party.startswith("insureds")
    if record.applicant is Applicant.ATTORNEY:
        return record.attorney_ok
    return False


def person_of(slots: list[Slot], party: str) -> str | None:
    slot = _slot(slots, party)
    return slot.person if slot is not None else None


def places_at(layouts: list[Layout], moment: datetime, fallback: list[Slot]) -> list[Slot]:
    """Who stood in which place of the policy at ``moment``: an endorsement's ``insureds[0]``
    is whoever was the first insured when it was made, whatever the list looks like later."""
    before = [layout for layout in layouts if layout.at <= moment]
    if before:
        return max(before, key=lambda layout: layout.at).slots
    return layouts[0].slots if layouts else fallback


def authorized_value(records: list[EndorsementRecord], change: ContactChange, slots: list[Slot],
                     edit_time: datetime, skew_s: float, grace_s: float, adult_age: int,
                     layouts: list[Layout] | None = None) -> tuple[bool, object]:
    """The value the customer last authorized for this person and field by the edit's time:
    (True, value) from the latest customer-authorized CONTACT_CHANGE approved by the edit plus
    the skew and not rejected by the edit plus the grace; (False, None) when there is none.
    Only what happened by then counts, so the answer never depends on how far the endorsement
    stream had been read when the edit was judged. ``layouts``: who stood where over time, so an
    endorsement's places are read as they were when it was approved (``slots``, the changed
    people at the edit, when there is no history)."""
    best: tuple[datetime, str, object] | None = None
    cutoff = edit_time + timedelta(seconds=max(skew_s, grace_s))
    for stored in records:
        record = stored.as_of(cutoff)
        if record.endorsement_type != EndorsementType.CONTACT_CHANGE.value:
            continue
        approved = record.approval(edit_time + timedelta(seconds=skew_s), edit_time + timedelta(seconds=grace_s))
        if approved is None:
            continue
        places = places_at(layouts or [], approved, slots)
        for party, field, _old, new in record.changes:
            if field != change.field:
                continue
            endorsed = person_of(places, party)
            same_person = endorsed in (change.person, change.was) if change.person is not None and (
                endorsed is not None) else party == change.party
            if not same_person or not authorized_for(record, change.person, party, places, insurer_date(approved),
                                                     adult_age):
                continue
            candidate = (approved, record.endorsement_no, new)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    return (True, best[2]) if best is not None else (False, None)


def unauthorized_changes(
    record: EndorsementView, places: list[Slot], on: date, adult_age: int
) -> list[ContactChange]:
    """Contact changes an approved endorsement makes without the customer's authorization,
    ``places`` being who stood where when it was approved."""
    found = []
    for party, field, old, new in record.changes:
        if field not in CONTACT_FIELDS or party.startswith("beneficiaries"):
            continue
        person = person_of(places, party)
        if not authorized_for(record, person, party, places, on, adult_age):
            # The endorsement's own "old": the snapshot at hand depends on arrival order.
            found.append(ContactChange(party=party, person=person, field=field, old=old, new=new))
    return found
