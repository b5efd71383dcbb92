"""RELATION_INCONSISTENT (民法典 Art. 1047): ages that contradict the stated relation."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Gender, Relation, Severity
from schemas.person import Person
from schemas.policy_event import PolicyEvent
from streams.core.ages import age_on, credible_birth
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


def _under_marriage_age(person: Person, ctx: RuleContext) -> bool:
    birth = credible_birth(person, ctx.event_date, ctx.thresholds.max_age_years)
    if birth is None or person.gender is None:
        return False
    minimum = ctx.thresholds.marriage_age_male if person.gender is Gender.M else ctx.thresholds.marriage_age_female
    return age_on(birth, ctx.event_date) < minimum


@rule("RELATION_INCONSISTENT", Severity.WARNING, "CHILD older than, PARENT younger than the policyholder, SPOUSE under marriage age")
def relation_inconsistent(ctx: RuleContext) -> Iterator[Hit]:
    event = ctx.event
    if not isinstance(event, PolicyEvent):
        return
    max_age = ctx.thresholds.max_age_years
    holder_birth = credible_birth(event.policyholder, ctx.event_date, max_age)
    for index, insured in enumerate(event.insureds):
        label, relation = f"insureds[{index}]", insured.relation_to_policyholder
        birth = credible_birth(insured, ctx.event_date, max_age)
        problem = None
        if relation is Relation.CHILD and birth and holder_birth and birth <= holder_birth:
            problem = "关系为子女，但出生日期不晚于投保人"
        elif relation is Relation.PARENT and birth and holder_birth and birth >= holder_birth:
            problem = "关系为父母，但出生日期不早于投保人"
        elif relation is Relation.SPOUSE and (
            _under_marriage_age(insured, ctx) or _under_marriage_age(event.policyholder, ctx)
        ):
            problem = "关系为配偶，但一方未达法定婚龄"
        if problem:
            yield Hit(label, "relation_to_policyholder", f"{party_zh(label)}{problem}")
