"""POSTAL_CODE_FORMAT (China Post scheme): six digits, first digit 0–8.

Hong Kong and Macao have no postal codes; the convention 999077 is accepted for them.
Taiwan uses its own 3/5/6-digit codes.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from schemas.enums import Severity
from schemas.person import Address
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_text
from streams.core.rules.registry import Hit, RuleContext, rule

MAINLAND = re.compile(r"^[0-8]\d{5}$")
TAIWAN = re.compile(r"^\d{3}(\d{2,3})?$")
HK_MACAO = "999077"


def region_of(address: Address | None) -> str:
    text = "" if address is None else f"{address.province or ''}{address.city or ''}"
    if "香港" in text or "澳门" in text or "澳門" in text:
        return "HK_MACAO"
    if "台湾" in text or "臺灣" in text or "台灣" in text:
        return "TAIWAN"
    return "MAINLAND"


def postal_code_ok(code: str, address: Address | None) -> bool:
    region = region_of(address)
    if region == "HK_MACAO":
        return code == HK_MACAO or bool(MAINLAND.match(code))
    if region == "TAIWAN":
        return bool(TAIWAN.match(code))
    return bool(MAINLAND.match(code))


@rule("POSTAL_CODE_FORMAT", Severity.ERROR, "postal_code is not six digits starting 0–8 (999077 for HK/Macao)")
def postal_code_format(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        code = party.person.postal_code
        if code is None or postal_code_ok(code, party.person.address):
            continue
        yield Hit(party.label, "postal_code", f"{party_zh(party.label)}邮政编码{mask_text(code)}格式错误，应为6位数字")
