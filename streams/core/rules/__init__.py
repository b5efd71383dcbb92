"""Every validation rule of docs/contract.md §4; one module per rule.

Importing this package imports each module in it, which registers its rule in
:data:`REGISTRY`.
"""
from __future__ import annotations

import importlib
import pkgutil

from streams.core.rules.registry import REGISTRY, Hit, PartyKind, PartyView, Rule, RuleContext, rule

_INFRASTRUCTURE = {"registry"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Hit", "PartyKind", "PartyView", "Rule", "RuleContext", "rule"]
