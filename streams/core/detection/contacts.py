"""Contact fields of a snapshot and what changed between two snapshots (docs/contract.md §2.2).

A person is identified by ID type and number, so the policyholder who is also the insured
(SELF) is one person in two slots, and a re-ordered insured list is not a change. An event
that changes a person's ID (a 15-digit card upgraded to 18 digits, a corrected number, another
document type) does not make them someone new: the same slot with the same name (or the
upgraded number) is the same person, and a contact change in the same event is still judged.

Values are compared in their canonical form (:mod:`streams.core.canonical`): a phone written
with ``+86`` or dashes is the same phone.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from schemas.person import CONTACT_FIELDS, Person
from schemas.policy_event import PolicyEvent
from streams.core import canonical
from streams.core.detection.state import ContactChange, Slot


def person_key(person: Person) -> str | None:
    if person.id_type is None or person.id_no is None:
        return None
    return f"{person.id_type.value}:{person.id_no}"


def contact_value(field: str, value: Any) -> Any:
    """The comparable form of a contact field's value (addresses as their four parts)."""
    return canonical.contact(field, value)


def slots_of(event: PolicyEvent) -> list[Slot]:
    people: list[tuple[str, Person]] = [("policyholder", event.policyholder)]
    people += [(f"insureds[{i}]", insured) for i, insured in enumerate(event.insureds)]
    return [
        Slot(
            label=label,
            person=person_key(person),
            name=canonical.name(person.name),
            birth_date=person.birth_date if isinstance(person.birth_date, date) else None,
            contacts={field: contact_value(field, getattr(person, field)) for field in CONTACT_FIELDS},
        )
        for label, person in people
    ]


def _id_number(person: str | None) -> str | None:
    return person.split(":", 1)[1] if person else None


def upgraded(old: str | None, new: str | None) -> bool:
    """A 15-digit resident ID and the 18-digit number it became (GB 11643: the century
    ``19`` inserted after the region, a check character appended)."""
    a, b = _id_number(old), _id_number(new)
    if a is None or b is None:
        return False
    if len(a) == 18 and len(b) == 15:
        a, b = b, a
    return len(a) == 15 and len(b) == 18 and a.isdigit() and b[:6] + b[8:17] == a


def same_human(old: Slot, new: Slot) -> bool:
    """Two slots in the same place whose ID differs: the same person when the number was
    upgraded, or when the name matches and the birth dates do not contradict."""
    if upgraded(old.person, new.person):
        return True
    if old.name is None or old.name != new.name:
        return False
    return old.birth_date is None or new.birth_date is None or old.birth_date == new.birth_date


Match = tuple[Slot, Slot | None]
"""A slot of the new snapshot and the previous slot holding the same person (None: a new one)."""


def matched(before: list[Slot], after: list[Slot]) -> list[Match]:
    """Each slot of the new snapshot with the previous slot of the same person: same place and
    ID, else the same ID elsewhere, else the same place when only the ID changed
    (:func:`same_human`). Indexed once, so a group policy's hundreds of insureds are matched in
    linear time, and once per event for everything that needs the match."""
    by_place: dict[tuple[str, str | None], Slot] = {}
    by_person: dict[str, Slot] = {}
    by_label: dict[str, list[Slot]] = {}
    for slot in before:
        by_place.setdefault((slot.label, slot.person), slot)
        if slot.person is not None:
            by_person.setdefault(slot.person, slot)
        by_label.setdefault(slot.label, []).append(slot)
    found: list[Match] = []
    for slot in after:
        old = by_place.get((slot.label, slot.person))
        if old is None and slot.person is not None:
            old = by_person.get(slot.person)
        if old is None:
            old = next((candidate for candidate in by_label.get(slot.label, ()) if same_human(candidate, slot)), None)
        found.append((slot, old))
    return found


def baseline(slot: Slot) -> dict[str, Any]:
    """The person's contact values as last confirmed or authorized (docs/contract.md §2.2)."""
    return slot.authorized if slot.authorized is not None else slot.contacts


def carry_baseline(matches: list[Match]) -> None:
    """Give each person of the new snapshot the baseline they had: an edit changes what the
    snapshot shows, never what the customer authorized (that moves only when a change is
    judged covered). A new person starts with what they came with."""
    for slot, old in matches:
        if old is None:
            continue
        kept = baseline(old)
        slot.authorized = None if kept == slot.contacts else dict(kept)


def concerned(slots: list[Slot], changes: list[ContactChange]) -> list[Slot]:
    """What a held edit needs to know of the parties to judge its authorization later: who
    the changed people and the policyholder are and when they were born, not the whole
    snapshot (a group policy's hundreds of insureds) nor anyone's contact data."""
    people = {change.person for change in changes if change.person is not None}
    labels = {change.party for change in changes} | {"policyholder"}
    return [Slot(label=slot.label, person=slot.person, birth_date=slot.birth_date)
            for slot in slots if slot.label in labels or (slot.person is not None and slot.person in people)]


def changes_between(matches: list[Match]) -> list[ContactChange]:
    """Contact-field changes of people present in both snapshots (a new insured is no edit)."""
    changes = []
    for slot, old in matches:
        if old is None:
            continue
        for field in CONTACT_FIELDS:
            if old.contacts.get(field) != slot.contacts.get(field):
                changes.append(
                    ContactChange(
                        party=slot.label,
                        person=slot.person,
                        was=old.person if old.person != slot.person else None,
                        field=field,
                        old=old.contacts.get(field),
                        new=slot.contacts.get(field),
                    )
                )
    return changes
