"""The one place the shells read the wall clock; the core is always handed the time."""
from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
