"""ID_GENDER_MISMATCH (GB 11643): the parity of the sequence digit contradicts gender."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.id_numbers import well_formed
from streams.core.labels_zh import party_zh
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("ID_GENDER_MISMATCH", Severity.ERROR, "gender differs from the ID number's sequence-digit parity")
def id_gender_mismatch(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        parts = well_formed(party.person.id_type, party.person.id_no)
        gender = party.person.gender
        if parts is None or gender is None or gender == parts.gender:
            continue
        yield Hit(party.label, "gender", f"{party_zh(party.label)}性别与证件号码所示性别不一致")
