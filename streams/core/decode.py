"""Bytes → JSON object, with the reason when that is impossible."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RawText:
    """The original bytes as the quarantine record carries them."""

    text: str
    encoding: str  # "utf-8" or "base64"


class DecodeFailure(Exception):
    """The bytes are not a JSON object; ``str(self)`` says why, without echoing content."""


def raw_text(raw: bytes) -> RawText:
    try:
        return RawText(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        return RawText(base64.b64encode(raw).decode("ascii"), "base64")


def decode_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeFailure(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeFailure(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DecodeFailure("not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise DecodeFailure(f"not a JSON object but a JSON {type(value).__name__}")
    return value
