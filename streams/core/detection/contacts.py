"""Contact fields of a snapshot and what changed between two snapshots (docs/contract.md §2.2).

A person is identified by ID type and number, so the policyholder who is also the insured
(SELF) is one person in two slots, and a re-ordered insured list is not a change.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from schemas.person import CONTACT_FIELDS, Address, Person
from schemas.policy_event import PolicyEvent
from streams.core.detection.state import ContactChange, Slot

ADDRESS_PARTS = ("province", "city", "district", "detail")


def person_key(person: Person) -> str | None:
    if person.id_type is None or person.id_no is None:
        return None
    return f"{person.id_type.value}:{person.id_no}"


def contact_value(field: str, value: Any) -> Any:
    """The comparable form of a contact field's value: addresses as their four parts."""
    if field == "address":
        if value is None:
            return None
        if isinstance(value, Address):
            value = value.model_dump()
        return {part: value.get(part) for part in ADDRESS_PARTS} if isinstance(value, dict) else value
    return value


def slots_of(event: PolicyEvent) -> list[Slot]:
    people: list[tuple[str, Person]] = [("policyholder", event.policyholder)]
    people += [(f"insureds[{i}]", insured) for i, insured in enumerate(event.insureds)]
    return [
        Slot(
            label=label,
            person=person_key(person),
            birth_date=person.birth_date if isinstance(person.birth_date, date) else None,
            contacts={field: contact_value(field, getattr(person, field)) for field in CONTACT_FIELDS},
        )
        for label, person in people
    ]


def _previous(slot: Slot, before: list[Slot]) -> Slot | None:
    for old in before:
        if old.label == slot.label and old.person == slot.person:
            return old
    if slot.person is not None:
        for old in before:
            if old.person == slot.person:
                return old
    return None


def changes_between(before: list[Slot], after: list[Slot]) -> list[ContactChange]:
    """Contact-field changes of people present in both snapshots (a new insured is no edit)."""
    changes = []
    for slot in after:
        old = _previous(slot, before)
        if old is None:
            continue
        for field in CONTACT_FIELDS:
            if old.contacts.get(field) != slot.contacts.get(field):
                changes.append(
                    ContactChange(
                        party=slot.label,
                        person=slot.person,
                        field=field,
                        old=old.contacts.get(field),
                        new=slot.contacts.get(field),
                    )
                )
    return changes
