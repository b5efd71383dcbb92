"""ID_REGION_UNKNOWN (GB/T 2260): the first six digits are no known region code, past or present.

Only a warning: codes retire (110103 崇文 and 110104 宣武 merged in 2010) while the IDs
issued under them stay valid, and new codes appear every year.
"""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import IdType, Severity
from streams.core.id_numbers import well_formed
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_id
from streams.core.reference_data import region_codes
from streams.core.rules.registry import Hit, RuleContext, rule


@rule("ID_REGION_UNKNOWN", Severity.WARNING, "first six digits of a GB 11643 number are not a GB/T 2260 code")
def id_region_unknown(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        if party.person.id_type is IdType.RESIDENCE_PERMIT_HMT:
            continue  # 810000 / 820000 / 830000, already enforced by its format
        parts = well_formed(party.person.id_type, party.person.id_no)
        if parts is not None and parts.region not in region_codes():
            yield Hit(party.label, "id_no", f"{party_zh(party.label)}证件号码{mask_id(parts.number)}的地区码不在行政区划代码表中，请核对")
