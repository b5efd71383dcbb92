"""MOBILE_FORMAT (MIIT numbering plan): a mainland mobile is 11 digits starting 13–19."""
from __future__ import annotations

import re
from collections.abc import Iterator

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.masking import mask_phone
from streams.core.rules.registry import Hit, RuleContext, rule

MOBILE = re.compile(r"^1[3-9]\d{9}$")


@rule("MOBILE_FORMAT", Severity.ERROR, "mobile is not 11 digits starting with 13–19")
def mobile_format(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        mobile = party.person.mobile
        if mobile is None or MOBILE.match(mobile):
            continue
        yield Hit(party.label, "mobile", f"{party_zh(party.label)}手机号码{mask_phone(mobile)}格式错误，应为11位大陆手机号")
