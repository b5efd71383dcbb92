"""LANDLINE_FORMAT: area code, a 7–8 digit subscriber number, an optional extension."""
from __future__ import annotations

import re
from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_phone
from streams.core.rules.registry import Hit, RuleContext, rule

LANDLINE = re.compile(r"^0\d{2,3}-?[2-9]\d{6,7}(-\d{1,6})?$")


@rule("LANDLINE_FORMAT", Severity.ERROR, "landline is not area code + 7–8 digit number (+ extension)")
def landline_format(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        landline = party.person.landline
        if landline is not None and not LANDLINE.match(landline):
            yield Hit(party.label, "landline", f"{party_zh(party.label)}固定电话{mask_phone(landline)}格式错误，应为“区号-号码(-分机)”")
