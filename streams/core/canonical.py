"""Canonical forms: what counts as the *same* phone, name, person or day whatever system wrote it.

Source systems format one value many ways: a bank's front end writes ``+86 139-1186-2740``,
the policy-admin system ``13911862740``, a call-centre export ``013911862740``; a landline is
``0571-87652093`` in one place and ``057187652093`` in another; a bank drops the middle dot of
``阿依古丽·艾合买提``. Formatting is never an edit, a wrong number or another person
(docs/contract.md §2.2), so every comparison the detection, the return-visit check and the
customer index make goes through these functions; the clean topic keeps the value as normalised
by the schema (§3.1), these forms are only for comparing.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

INSURER_ZONE = ZoneInfo("Asia/Shanghai")
"""Every date PolicyGuard judges (ages, expiry, the day of an approval) is the date in the
insurer's zone, whatever offset the timestamp was written with (docs/domain.md §1)."""

_NOT_DIGIT = re.compile(r"\D")
_NAME_NOISE = re.compile(r"[\s·.•・‧･∙\u00b7\u2022\u30fb\u2027\uff65\u2219\-]")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")


def insurer_date(moment: datetime) -> date:
    """The calendar date of an event time in the insurer's zone: ``…T16:30Z`` and
    ``…T00:30+08:00`` of the next day are the same instant and the same date."""
    return moment.astimezone(INSURER_ZONE).date()


@lru_cache(maxsize=262_144)
def phone(value: str | None) -> str | None:
    """A phone number as the digits that dial it inside China.

    Separators, spaces and brackets go; a country code ``+86`` / ``0086`` / ``86`` goes when
    what follows is a whole number (a mobile, or a landline with its area code); a trunk
    ``0`` written before a mobile goes (``+86 (0)10 6500 1234`` is ``01065001234``). A landline
    keeps its area code and extension digits:
    ``0571-87652093`` and ``057187652093`` are one number, ``87652093`` alone is not the same
    (another city's subscriber may have it).
    """
    if not value:
        return None
    digits = _NOT_DIGIT.sub("", value)
    if not digits:
        return None
    for prefix in ("0086", "86"):
        rest = digits[len(prefix):]
        if not digits.startswith(prefix) or len(rest) < 9:
            continue
        if _CN_MOBILE.fullmatch(rest) or rest[0] == "0":
            digits = rest  # a mobile, or a number written with its trunk 0 after the country code
        else:
            digits = "0" + rest  # a landline's area code without its trunk 0
        break
    if len(digits) == 12 and digits[0] == "0" and _CN_MOBILE.fullmatch(digits[1:]):
        digits = digits[1:]
    return digits


@lru_cache(maxsize=262_144)
def name(value: str | None) -> str | None:
    """A person's name for identity: width and case folded, spaces and every middle-dot
    variant removed, so ``阿依古丽·艾合买提``, ``阿依古丽艾合买提`` and ``Zhang  San`` /
    ``ZHANG SAN`` compare equal. Never shown: display keeps the schema's form."""
    if not value:
        return None
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _NAME_NOISE.sub("", folded) or None


def text(value: Any) -> Any:
    """Free text (address parts, postal codes): width folded, every space removed."""
    if not isinstance(value, str):
        return value
    return "".join(unicodedata.normalize("NFKC", value).split()) or None


def contact(field: str, value: Any) -> Any:
    """The comparable form of one contact field's value (mobile, landline, address, postal_code)."""
    if value is None:
        return None
    if field in ("mobile", "landline"):
        return phone(value) if isinstance(value, str) else value
    if field == "address":
        if hasattr(value, "model_dump"):
            value = value.model_dump()
        if isinstance(value, dict):
            parts = {part: text(value.get(part)) for part in ("province", "city", "district", "detail")}
            return parts if any(v is not None for v in parts.values()) else None
        return text(value)
    return text(value)
