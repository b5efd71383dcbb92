"""ADDRESS_INCOMPLETE (R82): the policyholder's and insureds' address needs all four parts.

Municipalities repeat the city (北京市 / 北京市) and cities without districts (东莞, 中山)
put the town in ``district``, so every part is always expected.
"""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.labels_zh import field_zh, party_zh
from streams.core.rules.registry import Hit, PartyKind, RuleContext, rule

PARTS = ("province", "city", "district", "detail")


@rule("ADDRESS_INCOMPLETE", Severity.ERROR, "address absent, or province / city / district / detail blank")
def address_incomplete(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.of_kind(PartyKind.POLICYHOLDER, PartyKind.INSURED):
        address = party.person.address
        changed = "address" in party.person.model_fields_set
        if address is None:
            if party.complete or changed:  # an endorsement that erases the address is as bad
                yield Hit(party.label, "address", f"{party_zh(party.label)}缺少地址")
            continue
        for part in PARTS:
            if getattr(address, part) is None:
                field = f"address.{part}"
                yield Hit(party.label, field, f"{party_zh(party.label)}{field_zh(field)}为空")
