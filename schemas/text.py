"""Normalisation applied while parsing (docs/domain.md §1 "Normalise first").

These run as pydantic ``BeforeValidator``s so that the model *is* the normalised
record: what the rules check is exactly what the clean topic carries. Each function
leaves non-string input alone so pydantic still reports the type error.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_NAME_DOTS = str.maketrans({".": "·", "•": "·", "・": "·", "‧": "·", "･": "·", "∙": "·"})
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
_SPACE_BETWEEN_HAN = re.compile(rf"(?<=[{_HAN}·])\s+(?=[{_HAN}·])")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_INNER_SPACES = re.compile(r"\s+")


def _nfkc_trim(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def text(value: Any) -> Any:
    """Trim and fold full-width forms; a blank string means the value is absent."""
    if not isinstance(value, str):
        return value
    folded = _nfkc_trim(value)
    return folded or None


def code(value: Any) -> Any:
    """Enum codes: like ``text`` and upper-cased, so ``" m "`` reads as ``M``."""
    folded = text(value)
    return folded.upper() if isinstance(folded, str) else folded


def id_number(value: Any) -> Any:
    """ID numbers: no spaces anywhere, ``x`` → ``X``."""
    folded = text(value)
    if not isinstance(folded, str):
        return folded
    return _INNER_SPACES.sub("", folded).upper() or None


def mobile(value: Any) -> Any:
    """Mobile numbers: digits only, without the +86 / 0086 country prefix."""
    folded = text(value)
    if not isinstance(folded, str):
        return folded
    digits = _PHONE_SEPARATORS.sub("", folded)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) > len(prefix):
            digits = digits[len(prefix) :]
            break
    return digits or None


def landline(value: Any) -> Any:
    """Landlines keep their dashes (area code, extension) but lose spaces and brackets."""
    folded = text(value)
    if not isinstance(folded, str):
        return folded
    return re.sub(r"[\s()]", "", folded) or None


def person_name(value: Any) -> Any:
    """Names: middle-dot variants become U+00B7, Han names lose inner spaces, runs of spaces fold to one."""
    folded = text(value)
    if not isinstance(folded, str):
        return folded
    dotted = folded.translate(_NAME_DOTS)
    return _INNER_SPACES.sub(" ", _SPACE_BETWEEN_HAN.sub("", dotted))


Code = BeforeValidator(code)
"""Metadata for enum fields: ``Annotated[Gender | None, Code]``."""

Text = Annotated[str, BeforeValidator(text)]
"""A required string: blank counts as missing and fails validation."""
OptText = Annotated[str | None, BeforeValidator(text)]
OptIdNumber = Annotated[str | None, BeforeValidator(id_number)]
OptMobile = Annotated[str | None, BeforeValidator(mobile)]
OptLandline = Annotated[str | None, BeforeValidator(landline)]
OptPersonName = Annotated[str | None, BeforeValidator(person_name)]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_control(value: str) -> str:
    """Identifiers join records across systems: a NUL or a line break inside one is a defect."""
    if _CONTROL.search(value):
        raise ValueError("contains a control character")
    return value


Identifier = Annotated[str, BeforeValidator(text), AfterValidator(no_control)]
"""A required key (event_id, policy_no, endorsement_no, user ids): text without control characters."""
OptIdentifier = Annotated[str | None, BeforeValidator(text), AfterValidator(lambda v: v if v is None else no_control(v))]

EARLIEST_EVENT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2200, 1, 1, tzinfo=UTC)


def event_time_in_range(value: datetime) -> datetime:
    """A policy system's clock says 1900–2199; outside that the timestamp is a defect, and date
    arithmetic on it (deadlines, retention) would overflow."""
    if not EARLIEST_EVENT <= value < LATEST_EVENT:
        raise ValueError("must be between 1900-01-01 and 2199-12-31 (UTC)")
    return value


EventTime = Annotated[AwareDatetime, AfterValidator(event_time_in_range)]
OptEventTime = Annotated[AwareDatetime | None, AfterValidator(lambda v: v if v is None else event_time_in_range(v))]
