"""What one policy event tells the customer index, already hashed.

Only what the event's own validation accepted goes in: a person whose ID number or type
failed a rule is not indexed at all (their identity is already reported as wrong), a name,
birth date or gender that failed is left out, and a mobile that is not a valid mobile is
neither checked against the roster nor counted as a shared contact. An ERROR elsewhere in the
event (a bad postal code) does not stop the people in it from being indexed: an identity
conflict is worth knowing whatever else is wrong.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from schemas.enums import Severity
from schemas.finding import Finding
from schemas.person import Person
from schemas.policy_event import PolicyEvent
from streams.core import canonical
from streams.core.crosspolicy.keys import Hasher
from streams.core.masking import mask_id, mask_phone

IDENTITY_FIELDS = ("name", "birth_date", "gender")
ID_FIELDS = frozenset({"id_no", "id_type"})


@dataclass(frozen=True, slots=True)
class Sighting:
    """One person on one policy, as of one event."""

    person: str
    id_masked: str
    roles: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]
    """(field, keyed hash) of the name, birth date and gender that passed validation."""

    @property
    def identity(self) -> str:
        """Which values the person appears with: equal on two policies means no conflict."""
        return "|".join(f"{field}={digest}" for field, digest in self.attributes)


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    """A customer's mobile to look up in the staff roster."""

    mobile: str
    mobile_masked: str
    person: str | None
    parties: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MobileUse:
    """The policyholder's mobile, counted towards SHARED_CONTACT."""

    mobile: str
    mobile_masked: str
    holder: str


@dataclass(frozen=True, slots=True)
class Observation:
    event_id: str
    policy_no: str
    channel: str | None
    branch_code: str | None
    at: datetime
    actor: dict[str, Any]
    sightings: tuple[Sighting, ...] = ()
    phones: tuple[PhoneCheck, ...] = ()
    use: MobileUse | None = None
    documents: frozenset[str] = frozenset()
    """Every party's ID number keyed whatever its type (the roster's staff exemption)."""


def rejected_fields(findings: Iterable[Finding]) -> set[tuple[str | None, str | None]]:
    """(party, field) of every value an ERROR finding rejected."""
    return {(f.party, f.field) for f in findings if f.severity is Severity.ERROR}


def _people(event: PolicyEvent) -> list[tuple[str, str, Person]]:
    people: list[tuple[str, str, Person]] = [("policyholder", "policyholder", event.policyholder)]
    people += [(f"insureds[{i}]", "insured", person) for i, person in enumerate(event.insureds)]
    people += [(f"beneficiaries[{i}]", "beneficiary", person) for i, person in enumerate(event.beneficiaries)]
    return people


def _attribute_text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if field == "name":
        return canonical.name(value) if isinstance(value, str) else None
    if field == "birth_date":
        return value.isoformat() if isinstance(value, date) else None
    return getattr(value, "value", str(value))


def observe(event: PolicyEvent, findings: Iterable[Finding], hasher: Hasher) -> Observation:
    rejected = rejected_fields(findings)
    sightings: dict[str, tuple[str, list[str], dict[str, str]]] = {}
    phones: dict[tuple[str, str | None], tuple[str, list[str]]] = {}
    use: MobileUse | None = None
    documents: set[str] = set()
    for label, role, person in _people(event):
        key: str | None = None
        if person.id_type is not None and person.id_no and not any((label, f) in rejected for f in ID_FIELDS):
            key = hasher.person(person.id_type.value, person.id_no)
            documents.add(hasher.document(person.id_no))
            masked, roles, attributes = sightings.setdefault(key, (mask_id(person.id_no), [], {}))
            if role not in roles:
                roles.append(role)
            for field in IDENTITY_FIELDS:
                text = _attribute_text(field, getattr(person, field))
                if text is not None and (label, field) not in rejected and field not in attributes:
                    attributes[field] = hasher.attribute(key, field, text)
        if role == "beneficiary" or not person.mobile or (label, "mobile") in rejected:
            continue
        number = canonical.phone(person.mobile) or person.mobile
        mobile = hasher.mobile(number)
        # Masked from the canonical number: an alert found through another policy's event, where
        # the same mobile was typed differently, reads the same.
        _, parties = phones.setdefault((mobile, key), (mask_phone(number), []))
        parties.append(label)
        if role == "policyholder" and key is not None:
            use = MobileUse(mobile, mask_phone(number), key)
    actor = event.actor
    return Observation(
        event_id=event.event_id,
        policy_no=event.policy_no,
        channel=event.channel.value if event.channel is not None else None,
        branch_code=event.branch_code,
        at=event.occurred_at,
        actor={"user_id": actor.user_id, "role": getattr(actor.role, "value", actor.role),
               "supervisor_id": actor.supervisor_id},
        sightings=tuple(
            Sighting(key, masked, tuple(roles), tuple(sorted(attributes.items())))
            for key, (masked, roles, attributes) in sightings.items()
        ),
        phones=tuple(
            PhoneCheck(mobile, masked, person_key, tuple(parties))
            for (mobile, person_key), (masked, parties) in phones.items()
        ),
        use=use,
        documents=frozenset(documents),
    )
