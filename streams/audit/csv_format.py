"""The CSV export the audit reads: one row per policy, one column per field.

Column names (header row required; order free; extra columns ignored):

- policy: ``policy_no``, ``occurred_at`` (the snapshot's time, ISO 8601 with offset), ``channel``,
  ``branch_code``, ``agent_code``, ``intermediary_code``; optional ``event_id`` (default
  ``audit-<policy_no>``), ``event_type`` (default ``POLICY_ISSUED``), ``actor_user_id`` and
  ``actor_role`` (default the system), ``beneficiary_designation``;
- the policyholder, prefix ``ph_``, and up to two insureds, prefixes ``ins1_`` / ``ins2_`` (with
  ``ins1_relation``: ``SELF``, ``SPOUSE``, ``CHILD``, ``PARENT``, ``OTHER``): ``name``, ``gender``,
  ``birth_date``, ``id_type``, ``id_no``, ``id_valid_to``, ``mobile``, ``landline``,
  ``province``, ``city``, ``district``, ``address`` (the detail line), ``postal_code``.

An empty cell is an absent value. A row becomes the same PolicyEvent document a JSON Lines
export carries, so both formats are judged by the same code.
"""
from __future__ import annotations

from typing import Any

PERSON_FIELDS = ("name", "gender", "birth_date", "id_type", "id_no", "id_valid_to", "mobile", "landline",
                 "province", "city", "district", "address", "postal_code")
ADDRESS_COLUMNS = {"province": "province", "city": "city", "district": "district", "address": "detail"}
POLICY_COLUMNS = ("policy_no", "event_id", "event_type", "occurred_at", "channel", "branch_code", "agent_code",
                  "intermediary_code", "actor_user_id", "actor_role", "beneficiary_designation")
PARTIES = ("ph", "ins1", "ins2")
COLUMNS = [*POLICY_COLUMNS, *(f"{party}_{name}" for party in PARTIES for name in PERSON_FIELDS),
           "ins1_relation", "ins2_relation"]
REQUIRED = ("policy_no", "occurred_at", "channel", "ph_name", "ph_id_no")
AUDIT_ACTOR = {"user_id": "AUDIT", "role": "SYSTEM", "supervisor_id": None, "department": None}


class CsvHeaderError(ValueError):
    """The file's header cannot be an export of policy snapshots."""


def check_header(header: list[str] | None) -> None:
    missing = [name for name in REQUIRED if name not in (header or [])]
    if missing:
        raise CsvHeaderError(f"the header lacks {', '.join(missing)} (see the CSV columns in the README)")


def _cell(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _person(row: dict[str, Any], party: str) -> dict[str, Any] | None:
    values = {name: _cell(row, f"{party}_{name}") for name in PERSON_FIELDS}
    if not any(values.values()):
        return None
    address = {part: values.pop(column) for column, part in ADDRESS_COLUMNS.items()}
    return {**values, "address": address if any(address.values()) else None}


def document_of(row: dict[str, Any]) -> dict[str, Any]:
    policy_no = _cell(row, "policy_no")
    holder = _person(row, "ph") or {}
    insureds = []
    for party in ("ins1", "ins2"):
        person = _person(row, party)
        if person is not None:
            insureds.append({**person, "relation_to_policyholder": _cell(row, f"{party}_relation")})
    actor = dict(AUDIT_ACTOR)
    if _cell(row, "actor_user_id"):
        actor.update(user_id=_cell(row, "actor_user_id"), role=_cell(row, "actor_role") or "SYSTEM")
    document: dict[str, Any] = {
        "event_id": _cell(row, "event_id") or f"audit-{policy_no}",
        "event_type": _cell(row, "event_type") or "POLICY_ISSUED",
        "occurred_at": _cell(row, "occurred_at"),
        "policy_no": policy_no,
        "channel": _cell(row, "channel"),
        "branch_code": _cell(row, "branch_code"),
        "agent_code": _cell(row, "agent_code"),
        "intermediary_code": _cell(row, "intermediary_code"),
        "actor": actor,
        "policyholder": holder,
        "insureds": insureds,
        "beneficiaries": [],
    }
    if _cell(row, "beneficiary_designation"):
        document["beneficiary_designation"] = _cell(row, "beneficiary_designation")
    return document


def row_of(document: dict[str, Any]) -> dict[str, Any]:
    """The CSV row of a snapshot document (the generated book's CSV form)."""
    row: dict[str, Any] = {name: document.get(name) for name in POLICY_COLUMNS if name in document}
    actor = document.get("actor") or {}
    row["actor_user_id"], row["actor_role"] = actor.get("user_id"), actor.get("role")
    people = [("ph", document.get("policyholder") or {})]
    people += [(f"ins{i + 1}", person) for i, person in enumerate((document.get("insureds") or [])[:2])]
    for party, person in people:
        for name in PERSON_FIELDS:
            if name in ADDRESS_COLUMNS:
                row[f"{party}_{name}"] = ((person.get("address") or {}).get(ADDRESS_COLUMNS[name]))
            else:
                row[f"{party}_{name}"] = person.get(name)
        if party != "ph":
            row[f"{party}_relation"] = person.get("relation_to_policyholder")
    return {key: ("" if value is None else value) for key, value in row.items()}
