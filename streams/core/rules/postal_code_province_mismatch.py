"""POSTAL_CODE_PROVINCE_MISMATCH (China Post scheme): the code belongs to another province."""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from schemas.enums import Severity
from schemas.person import Address
from streams.core.labels_zh import party_zh
from streams.core.reference_data import postal_prefixes
from streams.core.rules.postal_code_format import MAINLAND, region_of
from streams.core.rules.registry import Hit, RuleContext, rule


def province_of(address: Address | None) -> str | None:
    """The short province name inside ``address.province`` (新疆维吾尔自治区 → 新疆)."""
    if address is None or address.province is None:
        return None
    return _short_province(address.province)


@lru_cache(maxsize=4096)
def _short_province(written: str) -> str | None:
    matches = [short for short in postal_prefixes() if short in written]
    return max(matches, key=len) if matches else None


@rule("POSTAL_CODE_PROVINCE_MISMATCH", Severity.WARNING, "postal code's first two digits belong to another province")
def postal_code_province_mismatch(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        code, address = party.person.postal_code, party.person.address
        if code is None or not MAINLAND.match(code) or region_of(address) != "MAINLAND":
            continue
        province = province_of(address)
        if province is not None and code[:2] not in postal_prefixes()[province]:
            yield Hit(party.label, "postal_code", f"{party_zh(party.label)}邮政编码与地址所在省份（{province}）不符")
