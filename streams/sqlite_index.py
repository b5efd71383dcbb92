"""The customer index in a SQLite file: the audit's, for a book whose people do not fit in memory.

A :class:`~streams.core.crosspolicy.store.Backend` for
:class:`~streams.core.crosspolicy.store.LocalStore`, which keeps the merging: the answers are the
in-process store's, only the records live on disk (a bounded page cache in memory). Writes are
committed per batch, not per record.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from streams.core.crosspolicy.index import Entry

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (tab TEXT, key TEXT, field TEXT, entry TEXT, PRIMARY KEY (tab, key, field))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (alert_id TEXT PRIMARY KEY, owner TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs (person TEXT, alert_id TEXT, ref TEXT, PRIMARY KEY (person, alert_id)) WITHOUT ROWID;
"""
CACHE_KIB = 65_536


class SqliteBackend:
    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.executescript(f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                                      f"PRAGMA cache_size=-{CACHE_KIB};" + SCHEMA)
        self.connection.execute("BEGIN")
        self.pending = 0

    def entries(self, table: str, key: str) -> dict[str, Entry]:
        rows = self.connection.execute("SELECT field, entry FROM entries WHERE tab = ? AND key = ?", (table, key))
        return {field: json.loads(entry) for field, entry in rows}

    def put(self, table: str, key: str, field: str, entry: Entry) -> None:
        self.connection.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)",
                                (table, key, field, json.dumps(entry, separators=(",", ":"))))
        self.pending += 1
        if self.pending >= 20_000:
            self.connection.execute("COMMIT")
            self.connection.execute("BEGIN")
            self.pending = 0

    def delete(self, table: str, key: str, field: str) -> None:
        """A full key making room for a newer entry (the caps keep the newest)."""
        self.connection.execute("DELETE FROM entries WHERE tab = ? AND key = ? AND field = ?", (table, key, field))

    def claim(self, alert_id: str, owner: str) -> str:
        self.connection.execute("INSERT OR IGNORE INTO claims VALUES (?, ?)", (alert_id, owner))
        row = self.connection.execute("SELECT owner FROM claims WHERE alert_id = ?", (alert_id,)).fetchone()
        return str(row[0])

    def add_ref(self, person: str, ref: dict[str, str]) -> None:
        self.connection.execute("INSERT OR IGNORE INTO refs VALUES (?, ?, ?)",
                                (person, ref["alert_id"], json.dumps(ref)))

    def refs(self, person: str) -> list[dict[str, str]]:
        rows = self.connection.execute("SELECT ref FROM refs WHERE person = ? ORDER BY alert_id", (person,))
        return [json.loads(ref) for (ref,) in rows]

    def close(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.close()
