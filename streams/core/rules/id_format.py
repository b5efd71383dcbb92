"""ID_FORMAT (docs/domain.md §2.2): the number does not fit its document type."""
from __future__ import annotations

from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.id_numbers import GB11643_TYPES, format_matches, parse_gb11643
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_id
from streams.core.rules.registry import Hit, RuleContext, rule

ID_TYPE_ZH = {
    "RESIDENT_ID": "居民身份证",
    "HOUSEHOLD_REGISTER": "户口簿",
    "RESIDENCE_PERMIT_HMT": "港澳台居民居住证",
    "FOREIGN_PERMANENT_RESIDENT": "外国人永久居留身份证",
    "HK_MACAO_PERMIT": "港澳居民来往内地通行证",
    "TAIWAN_PERMIT": "台湾居民来往大陆通行证",
    "PASSPORT": "护照",
    "BIRTH_CERTIFICATE": "出生医学证明",
    "OTHER": "其他证件",
}


@rule("ID_FORMAT", Severity.ERROR, "id_no does not match its id_type, or its embedded date is not real")
def id_format(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        id_type, id_no = party.person.id_type, party.person.id_no
        if id_type is None or id_no is None:
            continue
        who = party_zh(party.label)
        if not format_matches(id_type, id_no):
            yield Hit(party.label, "id_no", f"{who}证件号码{mask_id(id_no)}不符合{ID_TYPE_ZH[id_type]}的格式")
        elif id_type in GB11643_TYPES and parse_gb11643(id_no) is None:
            yield Hit(party.label, "id_no", f"{who}证件号码{mask_id(id_no)}中的出生日期不是有效日期")
