"""PHONE_PATTERN (SEED): numbers nobody owns: 13888888888, …12345678, 13800138000.

Judged only on numbers that pass their format rule (one finding per problem).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from schemas.enums import Severity
from streams.core.labels_zh import field_zh, party_zh
from streams.core.masking import mask_phone
from streams.core.rules.landline_format import LANDLINE
from streams.core.rules.memo import per_value
from streams.core.rules.mobile_format import MOBILE
from streams.core.rules.registry import Hit, RuleContext, rule
from streams.core.thresholds import Thresholds


@lru_cache(maxsize=16)
def _patterns(identical: int, sequential: int) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A regex for ``identical`` equal digits in a row, and every run of ``sequential`` steps."""
    ascending, descending = "0123456789", "9876543210"
    runs = tuple(
        line[start : start + sequential] for line in (ascending, descending) for start in range(11 - sequential)
    )
    return re.compile(rf"(\d)\1{{{identical - 1},}}"), runs


@per_value
def suspicious(number: str, thresholds: Thresholds) -> bool:
    digits = re.sub(r"\D", "", number)
    if not digits:
        return False
    if digits in thresholds.placeholder_phone_numbers:
        return True
    repeated, runs = _patterns(thresholds.identical_digit_run, thresholds.sequential_digit_run)
    return bool(repeated.search(digits)) or any(run in digits for run in runs)


@rule("PHONE_PATTERN", Severity.WARNING, "7+ identical digits, an 8-digit sequence, or a known placeholder number")
def phone_pattern(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        for field, value, pattern in (
            ("mobile", party.person.mobile, MOBILE),
            ("landline", party.person.landline, LANDLINE),
        ):
            if value is not None and pattern.match(value) and suspicious(value, ctx.thresholds):
                yield Hit(party.label, field, f"{party_zh(party.label)}{field_zh(field)}{mask_phone(value)}疑似虚假号码，请核实")
