"""Answers remembered per value: a policy's parties come back on every event of its lifecycle
(six or more), so most values a rule judges it has judged before."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import wraps
from typing import TypeVar

from streams.core.thresholds import Thresholds

R = TypeVar("R")
MAX_ENTRIES = 65_536
"""Per function and thresholds object; the table starts again when full (no LRU bookkeeping
on the hot path)."""


def per_value(judge: Callable[[str, Thresholds], R]) -> Callable[[str, Thresholds], R]:
    """Memoise ``judge(value, thresholds)``; the thresholds are told apart by identity (a rule
    set's thresholds live as long as the rule set, and models with lists are not hashable)."""
    tables: dict[int, tuple[Thresholds, dict[Hashable, R]]] = {}

    @wraps(judge)
    def remembered(value: str, thresholds: Thresholds) -> R:
        entry = tables.get(id(thresholds))
        if entry is None or entry[0] is not thresholds:
            entry = tables[id(thresholds)] = (thresholds, {})
        table = entry[1]
        try:
            return table[value]
        except KeyError:
            pass
        if len(table) >= MAX_ENTRIES:
            table.clear()
        answer = table[value] = judge(value, thresholds)
        return answer

    return remembered
