"""Reading a roster file into a customer-index store (``roster load``, ``replay --roster``)."""
from __future__ import annotations

from pathlib import Path

from streams.core.crosspolicy import CrossStore, Hasher
from streams.core.crosspolicy.roster import Roster, parse_roster


async def load_roster_file(path: Path, hasher: Hasher, store: CrossStore) -> Roster:
    """Parse the whole file, then replace the store's roster in one step (a file that is not a
    roster at all raises RosterFileError and replaces nothing)."""
    roster = parse_roster(path.read_text(encoding="utf-8-sig"), hasher)
    await store.load_roster(roster.entries)
    return roster
