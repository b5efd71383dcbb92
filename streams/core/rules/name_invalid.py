"""NAME_INVALID (R82): not a Han name, nor (for foreign and HK/Macao/Taiwan documents) a Latin one."""
from __future__ import annotations

import re
from collections.abc import Iterator

from schemas.enums import IdType, Severity
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_name
from streams.core.rules.registry import Hit, RuleContext, rule

_H = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
HAN_NAME = re.compile(rf"^[{_H}]+(·[{_H}]+)*$")
_L = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
LATIN_NAME = re.compile(rf"^[{_L}'\-]*[{_L}][{_L}'\-]*( [{_L}'\-]*[{_L}][{_L}'\-]*)*$")
LATIN_DOCUMENTS = frozenset(
    {
        IdType.PASSPORT,
        IdType.FOREIGN_PERMANENT_RESIDENT,
        IdType.HK_MACAO_PERMIT,
        IdType.TAIWAN_PERMIT,
        IdType.RESIDENCE_PERMIT_HMT,
    }
)


def name_ok(name: str, id_type: IdType | None) -> bool:
    if 2 <= len(name) <= 30 and HAN_NAME.match(name):
        return True
    return id_type in LATIN_DOCUMENTS and 2 <= len(name) <= 60 and bool(LATIN_NAME.match(name))


@rule("NAME_INVALID", Severity.ERROR, "name is neither a Han name nor, for foreign documents, a Latin name")
def name_invalid(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        name = party.person.name
        if name is not None and not name_ok(name, party.person.id_type):
            yield Hit(party.label, "name", f"{party_zh(party.label)}姓名“{mask_name(name)}”含有非法字符或长度不符")
