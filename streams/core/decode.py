"""Bytes → JSON object, with the reason when that is impossible.

Stricter than ``json.loads`` where Python's leniency would let a record through that no
other consumer could read back: ``NaN`` / ``Infinity`` (not JSON; they would come out as
``null``), integers too long to convert, and ``\\uD800``-style escapes of lone surrogates
(valid JSON text, but not Unicode: no UTF-8 encoder can write them out again).
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
MAX_DEPTH = 64
"""Deeper documents are refused: no event of the contract nests past 5 levels, and every
consumer downstream (pydantic's serializer among them) has a recursion limit of its own."""


@dataclass(frozen=True, slots=True)
class RawText:
    """The original bytes as the quarantine record carries them."""

    text: str
    encoding: Literal["utf-8", "base64"]


class DecodeFailure(Exception):
    """The bytes are not a JSON object; ``str(self)`` says why, without echoing content."""


def raw_text(raw: bytes) -> RawText:
    try:
        return RawText(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        return RawText(base64.b64encode(raw).decode("ascii"), "base64")


def _no_constants(name: str) -> Any:
    raise DecodeFailure(f"not valid JSON: {name} is not a JSON number")


def decode_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeFailure(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        # exc.msg may end in "starting at" itself ("Unterminated string starting at"): keep the
        # position apart so the reason never reads "starting at at line 1".
        raise DecodeFailure(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise DecodeFailure("not valid JSON: nested too deeply") from None
    except ValueError:  # int() refusing a number of thousands of digits
        raise DecodeFailure("not valid JSON: a number too long to read") from None
    if not isinstance(value, dict):
        raise DecodeFailure(f"not a JSON object but a JSON {type(value).__name__}")
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise DecodeFailure(f"not accepted: nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
        raise DecodeFailure("not valid Unicode: a \\u escape of a lone surrogate (UTF-16 half) in a string")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Walks the decoded value iteratively: the document may be nested hundreds deep."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    items: Iterable[Any]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            items = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in items)
    return deepest
