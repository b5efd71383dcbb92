"""Identity-document numbers (docs/domain.md §2.2): formats per id_type and GB 11643 parts.

The check character comes from python-stdnum (``stdnum.cn.ric.calc_check_digit``); its
``validate`` is *not* used because it rejects real IDs whose region code was retired and
can raise ``KeyError``. Region is judged separately, and only as a warning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from stdnum.cn.ric import calc_check_digit

from schemas.enums import Gender, IdType

GB11643_TYPES = frozenset({IdType.RESIDENT_ID, IdType.HOUSEHOLD_REGISTER, IdType.RESIDENCE_PERMIT_HMT})

ID_PATTERNS: dict[IdType, re.Pattern[str]] = {
    IdType.RESIDENT_ID: re.compile(r"^(\d{17}[\dX]|\d{15})$"),
    IdType.HOUSEHOLD_REGISTER: re.compile(r"^(\d{17}[\dX]|\d{15})$"),
    IdType.RESIDENCE_PERMIT_HMT: re.compile(r"^8[123]0000\d{11}[\dX]$"),
    IdType.FOREIGN_PERMANENT_RESIDENT: re.compile(r"^(9\d{16}[\dX]|[A-Z]{3}\d{12})$"),
    IdType.HK_MACAO_PERMIT: re.compile(r"^[HM]\d{8}(\d{2})?$"),
    IdType.TAIWAN_PERMIT: re.compile(r"^\d{8}$"),
    IdType.PASSPORT: re.compile(r"^[A-Z0-9]{5,17}$"),
    IdType.BIRTH_CERTIFICATE: re.compile(r"^[A-Z0-9]{6,20}$"),
    IdType.OTHER: re.compile(r"^[A-Z0-9()\-]{1,30}$"),
}


@dataclass(frozen=True, slots=True)
class Gb11643:
    """The parts of a well-formed GB 11643 number (18-digit, or legacy 15-digit)."""

    number: str
    region: str
    birth: date
    gender: Gender
    legacy: bool

    @property
    def check_char(self) -> str | None:
        return None if self.legacy else self.number[17]

    @property
    def expected_check_char(self) -> str | None:
        return None if self.legacy else _check_char(self.number)


@lru_cache(maxsize=65_536)
def _check_char(number: str) -> str:
    # stdnum's calc_check_digit takes the *whole* number and ignores its last character.
    return calc_check_digit(number)


def format_matches(id_type: IdType, id_no: str) -> bool:
    return bool(ID_PATTERNS[id_type].match(id_no))


@lru_cache(maxsize=65_536)
def parse_gb11643(id_no: str) -> Gb11643 | None:
    """The parts, or None when the number is not 15/18 digits or its date is not real."""
    if re.fullmatch(r"\d{17}[\dX]", id_no):
        birth_text, sequence_digit, legacy = id_no[6:14], id_no[16], False
    elif re.fullmatch(r"\d{15}", id_no):
        birth_text, sequence_digit, legacy = "19" + id_no[6:12], id_no[14], True
    else:
        return None
    try:
        birth = date(int(birth_text[:4]), int(birth_text[4:6]), int(birth_text[6:8]))
    except ValueError:
        return None
    gender = Gender.M if int(sequence_digit) % 2 == 1 else Gender.F
    return Gb11643(number=id_no, region=id_no[:6], birth=birth, gender=gender, legacy=legacy)


@lru_cache(maxsize=65_536)
def well_formed(id_type: IdType | None, id_no: str | None) -> Gb11643 | None:
    """The GB 11643 parts of an ID that passes ID_FORMAT, for the derived checks.

    Derived checks (checksum, birth, gender, region) skip when this is None: either the ID
    is not a GB 11643 type, or ID_FORMAT already reported it (one finding per problem).
    Remembered: five rules ask it of every party, on every event of the policy.
    """
    if id_type not in GB11643_TYPES or not id_no or not format_matches(id_type, id_no):
        return None
    return parse_gb11643(id_no)
