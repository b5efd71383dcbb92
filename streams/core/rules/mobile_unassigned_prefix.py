"""MOBILE_UNASSIGNED_PREFIX (MIIT numbering plan): a well-formed mobile in an unallocated block."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_phone
from streams.core.rules.mobile_format import MOBILE
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("MOBILE_UNASSIGNED_PREFIX", Severity.WARNING, "mobile prefix not allocated to mobile operators (or 1349)")
def mobile_unassigned_prefix(ctx: RuleContext) -> Iterator[Hit]:
    allocated = frozenset(ctx.thresholds.allocated_mobile_prefixes)
    blocked = tuple(ctx.thresholds.unassigned_mobile_blocks)
    for party in ctx.parties:
        mobile = party.person.mobile
        if mobile is None or not MOBILE.match(mobile):
            continue
        if mobile[:3] not in allocated or mobile.startswith(blocked):
            yield Hit(party.label, "mobile", f"{party_zh(party.label)}手机号码{mask_phone(mobile)}的号段未分配给移动电话，请核实")
