"""ID_EXPIRED (居民身份证法, AML): the document expired before the event date."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("ID_EXPIRED", Severity.ERROR, "id_valid_to is a date before the event date (LONG_TERM never expires)")
def id_expired(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        valid_to = party.person.id_valid_to
        if isinstance(valid_to, date) and valid_to < ctx.event_date:
            yield Hit(
                party.label,
                "id_valid_to",
                f"{party_zh(party.label)}证件已于{valid_to.isoformat()}过期，请客户提供有效证件",
            )
