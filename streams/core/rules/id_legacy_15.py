"""ID_LEGACY_15 (居民身份证法): a first-generation 15-digit number, invalid since 2013-01-01."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.id_numbers import well_formed
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("ID_LEGACY_15", Severity.WARNING, "15-digit first-generation ID number")
def id_legacy_15(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        parts = well_formed(party.person.id_type, party.person.id_no)
        if parts is not None and parts.legacy:
            yield Hit(party.label, "id_no", f"{party_zh(party.label)}使用15位一代身份证号码，该证件自2013年起停止使用，请更新为18位号码")
