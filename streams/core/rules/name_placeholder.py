"""NAME_PLACEHOLDER (R82): a name that looks like a stand-in. Only a warning: people are called 张三."""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from schemas.enums import Severity
from streams.core.labels_zh import party_zh
from streams.core.rules.memo import per_value
from streams.core.rules.registry import Hit, RuleContext, rule
from streams.core.thresholds import Thresholds


@lru_cache(maxsize=16)
def _folded(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(word.casefold() for word in words)


@per_value
def looks_like_placeholder(name: str, thresholds: Thresholds) -> bool:
    folded = name.casefold()
    if folded in _folded(tuple(thresholds.placeholder_names)):
        return True
    if any(part in folded for part in _folded(tuple(thresholds.placeholder_name_parts))):
        return True
    # A surname and an honorific (王先生, 欧阳女士): a form filled in without the given name.
    return any(name.endswith(title) and 1 <= len(name) - len(title) <= 2 for title in thresholds.honorifics)


@rule("NAME_PLACEHOLDER", Severity.WARNING, "name is a placeholder such as 客户, 测试, 王先生 or test")
def name_placeholder(ctx: RuleContext) -> Iterator[Hit]:
    for party in ctx.parties:
        name = party.person.name
        if name is not None and looks_like_placeholder(name, ctx.thresholds):
            yield Hit(party.label, "name", f"{party_zh(party.label)}姓名疑似占位填写，请核实客户真实姓名")
