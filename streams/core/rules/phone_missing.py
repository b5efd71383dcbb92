"""PHONE_MISSING (R82): the policyholder can be reached by neither mobile nor landline."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.rules.registry import Hit, PartyKind, RuleContext, rule


@rule("PHONE_MISSING", Severity.ERROR, "policyholder has neither mobile nor landline")
def phone_missing(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.of_kind(PartyKind.POLICYHOLDER):
        if party.complete and party.person.mobile is None and party.person.landline is None:
            yield Hit(party.label, "mobile", "投保人未留手机号码或固定电话")
