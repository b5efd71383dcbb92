"""BENEFICIARY_SHARES (保险法 Art. 40): within each order the shares add up to 100 %."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from schemas.enums import BeneficiaryDesignation, Severity
from schemas.policy_event import PolicyEvent
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("BENEFICIARY_SHARES", Severity.ERROR, "designated beneficiaries' shares within an order do not sum to 100")
def beneficiary_shares(ctx: RuleContext) -> Iterator[Hit]:
    event = ctx.event
    if not isinstance(event, PolicyEvent) or not event.beneficiaries:
        return
    if event.beneficiary_designation is BeneficiaryDesignation.LEGAL_HEIRS:
        return
    totals: dict[int, float] = defaultdict(float)
    for beneficiary in event.beneficiaries:
        totals[beneficiary.order if beneficiary.order is not None else 1] += beneficiary.share_pct or 0.0
    for order, total in sorted(totals.items()):
        if abs(total - 100.0) > ctx.thresholds.share_tolerance_pct:
            yield Hit("beneficiaries", "share_pct", f"第{order}顺序受益人受益份额合计为{total:g}%，应为100%")
