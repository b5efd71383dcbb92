"""ID_CHECKSUM (GB 11643-1999): the 18th character is not the computed check character."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.id_numbers import well_formed
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_id
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("ID_CHECKSUM", Severity.ERROR, "18-digit GB 11643 number with a wrong check character")
def id_checksum(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        parts = well_formed(party.person.id_type, party.person.id_no)
        if parts is None or parts.legacy or parts.check_char == parts.expected_check_char:
            continue
        yield Hit(
            party.label,
            "id_no",
            f"{party_zh(party.label)}证件号码{mask_id(parts.number)}校验位错误（GB 11643），请核对原件",
        )
