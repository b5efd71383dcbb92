"""Reading a roster file into a customer-index store (``roster load``, ``replay --roster``)."""
from __future__ import annotations

from pathlib import Path

from streams.core.crosspolicy import CrossStore, Hasher
from streams.core.crosspolicy.roster import Roster, RosterFileError, parse_roster


async def load_roster_file(path: Path, hasher: Hasher, store: CrossStore, *, allow_empty: bool = False) -> Roster:
    """Parse the whole file, then replace the store's roster in one step (a file that is not a
    roster at all raises RosterFileError and replaces nothing).

    A file with no usable line (empty, or every line rejected) would silently switch
    STAFF_PHONE_AS_CUSTOMER off: it is refused too, unless ``allow_empty`` says clearing the
    roster is meant."""
    roster = parse_roster(path.read_text(encoding="utf-8-sig"), hasher)
    if not roster.entries and not allow_empty:
        raise RosterFileError(
            f"no usable roster line ({roster.rows} lines, {len(roster.rejected)} rejected"
            + (f", first: {roster.rejected[0]}" if roster.rejected else "")
            + "); the roster is unchanged (--allow-empty clears it on purpose)")
    await store.load_roster(roster.entries)
    return roster
