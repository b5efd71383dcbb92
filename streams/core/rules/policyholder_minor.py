"""POLICYHOLDER_MINOR (民法典 Art. 17–19): a policyholder under 18 needs a guardian."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.ages import age_on, credible_birth
from streams.core.rules.registry import Hit, PartyKind, RuleContext, rule


@rule("POLICYHOLDER_MINOR", Severity.WARNING, "policyholder younger than 18 on the event date")
def policyholder_minor(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.of_kind(PartyKind.POLICYHOLDER):
        birth = credible_birth(party.person, ctx.event_date, ctx.thresholds.max_age_years)
        if birth is not None and age_on(birth, ctx.event_date) < ctx.thresholds.adult_age_years:
            yield Hit(
                party.label,
                "birth_date",
                f"投保人未满{ctx.thresholds.adult_age_years}周岁，需确认其具有完全民事行为能力或由监护人代为投保",
            )
