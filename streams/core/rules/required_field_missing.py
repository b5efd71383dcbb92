"""REQUIRED_FIELD_MISSING (docs/domain.md §2.1, R82): the identity fields each party must carry."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import BeneficiaryDesignation, Severity
from streams.core.labels_zh import field_zh, party_zh
from streams.core.rules.registry import Hit, PartyKind, RuleContext, rule

REQUIRED: dict[PartyKind, tuple[str, ...]] = {
    PartyKind.POLICYHOLDER: ("name", "gender", "birth_date", "id_type", "id_no", "postal_code"),
    PartyKind.INSURED: ("name", "gender", "birth_date", "id_type", "id_no"),
    PartyKind.BENEFICIARY: ("name", "id_no"),
}


@rule("REQUIRED_FIELD_MISSING", Severity.ERROR, "a required identity field of a party is absent or blank")
def required_field_missing(ctx: RuleContext) -> Iterator[Hit]:
    legal_heirs = getattr(ctx.event, "beneficiary_designation", None) == BeneficiaryDesignation.LEGAL_HEIRS
    for party in ctx.parties:
        if not party.complete or (party.kind is PartyKind.BENEFICIARY and legal_heirs):
            continue
        for field in REQUIRED[party.kind]:
            if getattr(party.person, field) is None:
                yield Hit(party.label, field, f"{party_zh(party.label)}缺少{field_zh(field)}")
