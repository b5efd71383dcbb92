"""SELF_RELATION_MISMATCH (保险法 Art. 31): an insured marked SELF must be the policyholder."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Relation, Severity
from schemas.policy_event import PolicyEvent
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("SELF_RELATION_MISMATCH", Severity.ERROR, "insured with relation SELF has another id_no or name than the policyholder")
def self_relation_mismatch(ctx: RuleContext) -> Iterator[Hit]:
    event = ctx.event
    if not isinstance(event, PolicyEvent):
        return
    holder = event.policyholder
    for index, insured in enumerate(event.insureds):
        if insured.relation_to_policyholder is not Relation.SELF:
            continue
        label = f"insureds[{index}]"
        for field, what in (("id_no", "证件号码"), ("name", "姓名")):
            mine, theirs = getattr(insured, field), getattr(holder, field)
            if mine is not None and theirs is not None and mine != theirs:
                yield Hit(label, field, f"{party_zh(label)}与投保人关系为本人，但{what}与投保人不一致")
