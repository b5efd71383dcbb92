"""MOBILE_UNASSIGNED_PREFIX (MIIT numbering plan): a well-formed mobile in an unallocated block."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_phone
from streams.core.rules.memo import per_value
from streams.core.rules.mobile_format import MOBILE
from streams.core.rules.registry import Hit, RuleContext, rule
from streams.core.thresholds import Thresholds


@per_value
def unassigned(mobile: str, thresholds: Thresholds) -> bool:
    """A well-formed mobile (MOBILE_FORMAT judges the rest) outside the allocated blocks."""
    if not MOBILE.match(mobile):
        return False
    return mobile[:3] not in thresholds.allocated_mobile_prefixes or mobile.startswith(
        tuple(thresholds.unassigned_mobile_blocks))


@rule("MOBILE_UNASSIGNED_PREFIX", Severity.WARNING, "mobile prefix not allocated to mobile operators (or 1349)")
def mobile_unassigned_prefix(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        mobile = party.person.mobile
        if mobile is not None and unassigned(mobile, ctx.thresholds):
            yield Hit(party.label, "mobile", f"{party_zh(party.label)}手机号码{mask_phone(mobile)}的号段未分配给移动电话，请核实")
