"""Whether an endorsement (保全) is the customer's own, authorized request (docs/contract.md §2.3)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from schemas.endorsement_event import Authorization, EndorsementEvent
from schemas.enums import Applicant, CustomerSignature, EndorsementType, IdVerification, OtpTarget
from schemas.person import CONTACT_FIELDS
from streams.core.ages import age_on
from streams.core.detection.contacts import contact_value
from streams.core.detection.state import ContactChange, EndorsementRecord, PolicyState, Slot

APPROVING = {"ENDORSEMENT_APPROVED", "ENDORSEMENT_EFFECTIVE"}


def customer_evidence(auth: Authorization) -> bool:
    """A signature with an ID check, an OTP to the OLD mobile, or a face-liveness check.

    An OTP to the NEW mobile proves nothing: whoever swaps the number controls it.
    """
    signed = auth.customer_signature in (CustomerSignature.WET_INK, CustomerSignature.E_SIGN)
    return (
        (signed and auth.id_verification is not None)
        or auth.otp_verified_to is OtpTarget.OLD_MOBILE
        or auth.id_verification is IdVerification.FACE_LIVENESS
    )


def record_endorsement(state: PolicyState, event: EndorsementEvent) -> EndorsementRecord:
    """Merge one endorsement event into what is known of that endorsement."""
    record = state.endorsements.get(event.endorsement_no) or EndorsementRecord(endorsement_no=event.endorsement_no)
    if event.endorsement_type is not None:
        record.endorsement_type = event.endorsement_type.value
    if event.authorization is not None:
        auth = event.authorization
        record.applicant = auth.applicant
        record.customer_evidence = customer_evidence(auth)
        record.attorney_ok = auth.power_of_attorney_ref is not None and auth.id_verification is not None
    if event.changes:
        record.changes = [
            (c.party, c.field, contact_value(c.field, c.old), contact_value(c.field, c.new)) for c in event.changes
        ]
    record.statuses.append((event.event_type.value, event.occurred_at))
    if event.event_type.value in APPROVING:
        # The earliest approval counts, whatever order the statuses were consumed in.
        record.approved_at = min(record.approved_at or event.occurred_at, event.occurred_at)
    state.endorsements[event.endorsement_no] = record
    return record


def _slot(slots: list[Slot], label: str) -> Slot | None:
    return next((slot for slot in slots if slot.label == label), None)


def _is_minor(slot: Slot, on: date, adult_age: int) -> bool:
    return slot.birth_date is not None and age_on(slot.birth_date, on) < adult_age


def authorized_for(record: EndorsementRecord, person: str | None, party: str, slots: list[Slot],
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


def covers(record: EndorsementRecord, change: ContactChange, slots: list[Slot], edit_time: datetime,
           skew_s: float, grace_s: float, adult_age: int) -> bool:
    """Only what happened by the edit plus the grace counts, so the answer never depends on
    how far the endorsement stream had been read when the edit was judged."""
    if record.endorsement_type != EndorsementType.CONTACT_CHANGE.value:
        return False
    if record.approved_at is None or record.approved_at > edit_time + timedelta(seconds=skew_s):
        return False
    if record.rejected_by(edit_time + timedelta(seconds=grace_s)):
        return False
    for party, field, _old, new in record.changes:
        if field != change.field or new != change.new:
            continue
        same_person = (change.person is not None and person_of(slots, party) == change.person) or party == change.party
        if same_person and authorized_for(record, change.person, party, slots, record.approved_at.date(), adult_age):
            return True
    return False


def unauthorized_changes(
    record: EndorsementRecord, state: PolicyState, on: date, adult_age: int
) -> list[ContactChange]:
    """Contact changes an approved endorsement makes without the customer's authorization."""
    found = []
    for party, field, old, new in record.changes:
        if field not in CONTACT_FIELDS or party.startswith("beneficiaries"):
            continue
        person = person_of(state.slots, party)
        if not authorized_for(record, person, party, state.slots, on, adult_age):
            # The endorsement's own "old": the snapshot at hand depends on arrival order.
            found.append(ContactChange(party=party, person=person, field=field, old=old, new=new))
    return found
