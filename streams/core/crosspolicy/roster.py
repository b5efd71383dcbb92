"""The staff / agent roster file: CSV with header ``user_id,role,mobile`` and an optional ``id_no``.

Parsed whole before anything is loaded, so a bad file replaces nothing: a reader sees the old
roster or the new one. Lines that cannot be used are reported with their line number and
why, never with the phone or ID number they carry.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from schemas.enums import ActorRole
from schemas.text import id_number, mobile
from streams.core import canonical
from streams.core.crosspolicy.index import RosterEntry
from streams.core.crosspolicy.keys import Hasher

REQUIRED = ("user_id", "role", "mobile")
MOBILE = re.compile(r"^1[3-9]\d{9}$")


class RosterFileError(ValueError):
    """The file cannot be a roster at all (no header, missing columns)."""


@dataclass
class Roster:
    entries: dict[str, RosterEntry] = field(default_factory=dict)
    """mobile (keyed hash) → staff member"""
    rows: int = 0
    rejected: list[str] = field(default_factory=list)
    """``line N: why`` per unusable line"""
    staff: set[str] = field(default_factory=set)

    def summary(self) -> str:
        text = (f"{len(self.entries)} mobiles of {len(self.staff)} staff from {self.rows} lines; "
                f"{len(self.rejected)} rejected")
        return text


def parse_roster(content: str, hasher: Hasher) -> Roster:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise RosterFileError(f"the header must name {', '.join(REQUIRED)} (and may name id_no); "
                              f"missing: {', '.join(missing)}")
    roster = Roster()
    owners: dict[str, str] = {}
    for row in reader:
        line = reader.line_num
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        if not any(values.values()):
            continue
        roster.rows += 1
        user_id, role = values.get("user_id", ""), values.get("role", "").upper()
        number = mobile(values.get("mobile"))
        number = canonical.phone(number) if isinstance(number, str) else number
        if not user_id:
            roster.rejected.append(f"line {line}: user_id is empty")
            continue
        if role not in ActorRole.__members__ or role in ("CUSTOMER", "SYSTEM"):
            staff_roles = ", ".join(r.value for r in ActorRole if r not in (ActorRole.CUSTOMER, ActorRole.SYSTEM))
            roster.rejected.append(f"line {line}: role must be one of {staff_roles}")
            continue
        if not isinstance(number, str) or not MOBILE.match(number):
            roster.rejected.append(f"line {line}: mobile is not an 11-digit mainland mobile number")
            continue
        key = hasher.mobile(number)
        if key in owners and owners[key] != user_id:
            roster.rejected.append(f"line {line}: the mobile is already the roster mobile of {owners[key]}")
            continue
        person = None
        raw_id = id_number(values.get("id_no") or None)
        if isinstance(raw_id, str) and raw_id:
            person = hasher.document(raw_id)  # whatever document it is: resident ID, permit, passport
        owners[key] = user_id
        roster.entries[key] = RosterEntry(user_id, role, person)
        roster.staff.add(user_id)
    return roster
