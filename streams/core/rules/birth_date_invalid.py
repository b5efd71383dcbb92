"""BIRTH_DATE_INVALID (R82): unparseable, in the future, or an age nobody reaches."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.ages import birth_problem
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("BIRTH_DATE_INVALID", Severity.ERROR, "birth_date unparseable, after the event date, or age over the maximum")
def birth_date_invalid(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        problem = birth_problem(party.person, ctx.event_date, ctx.thresholds.max_age_years)
        if problem is not None:
            yield Hit(party.label, "birth_date", f"{party_zh(party.label)}出生日期{problem}")
