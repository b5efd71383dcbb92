"""ID_BIRTH_DATE_MISMATCH (GB 11643): the birth date inside the ID differs from birth_date."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.ages import credible_birth
from streams.core.id_numbers import well_formed
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("ID_BIRTH_DATE_MISMATCH", Severity.ERROR, "birth date in the ID number differs from birth_date")
def id_birth_date_mismatch(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        parts = well_formed(party.person.id_type, party.person.id_no)
        birth = credible_birth(party.person, ctx.event_date, ctx.thresholds.max_age_years)
        if parts is None or birth is None or birth == parts.birth:
            continue
        yield Hit(party.label, "birth_date", f"{party_zh(party.label)}出生日期与证件号码中的出生日期不一致")
