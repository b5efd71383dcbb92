"""ADDRESS_VAGUE (R82): a detail line a letter could not be delivered to."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.rules.memo import per_value
from streams.core.rules.registry import Hit, RuleContext, rule
from streams.core.thresholds import Thresholds


@per_value
def vagueness(detail: str, thresholds: Thresholds) -> str | None:
    if detail in thresholds.vague_address_exact or any(word in detail for word in thresholds.vague_address_words):
        return "含有“不详/附近/同上/待补”等模糊表述"
    if len(detail) < thresholds.address_min_length:
        return f"少于{thresholds.address_min_length}个字"
    if not any(token in detail for token in thresholds.house_number_tokens):
        return "缺少门牌号（号、室、栋、幢、单元、组、村、弄）"
    return None


@rule("ADDRESS_VAGUE", Severity.WARNING, "detail too short, without a house number, or vague (不详, 附近, 同上, 待补)")
def address_vague(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        address = party.person.address
        detail = address.detail if address is not None else None
        if detail is None:
            continue
        problem = vagueness(detail, ctx.thresholds)
        if problem is not None:
            yield Hit(party.label, "address.detail", f"{party_zh(party.label)}详细地址{problem}")
