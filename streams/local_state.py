"""A partition's policy states on the worker's local disk (RocksDB through rocksdict).

The changelog topic stays the source of truth; this store is its local copy, as a Kafka
Streams state directory is: ten million policies in force live on disk rather than in memory,
and a restart reads only the changelog written after the store's checkpoint instead of the
whole partition. One directory per app id and partition, under ``POLICYGUARD_DATA_DIR``.

A directory another process holds (two workers on one host with the same data directory) is
not shared: this worker then restores into a directory of its own, from the whole changelog.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch

from streams.core.task import CHECKPOINT_KEY

log = logging.getLogger(__name__)


class RocksBacking:
    """A backing store (streams.core.state_store.Backing) in one RocksDB directory."""

    def __init__(self, path: Path, *, scratch: bool = False) -> None:
        """``scratch``: a directory of this process only, removed when closed."""
        self.path = path
        self.scratch = scratch
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options=options)

    def get(self, key: str) -> bytes | None:
        value = self._db.get(key.encode())
        return value if isinstance(value, bytes) else None

    def write(self, items: Mapping[str, bytes | None]) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in items.items():
            if value is None:
                batch.delete(key.encode())
            else:
                batch.put(key.encode(), value)
        self._db.write(batch)

    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        start = prefix.encode()
        for key, value in self._db.items(from_key=start):
            if not isinstance(key, bytes) or not key.startswith(start):
                return
            if isinstance(value, bytes):
                yield key.decode(), value

    def checkpoint(self) -> int | None:
        """The changelog offset this store has everything up to (None: it must be read whole)."""
        raw = self.get(CHECKPOINT_KEY)
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    def clear(self) -> None:
        """Forget everything (a store whose checkpoint cannot be trusted is rebuilt)."""
        keys = [key for key, _ in self._db.items()]
        batch = WriteBatch(raw_mode=True)
        for key in keys:
            batch.delete(key)
        self._db.write(batch)

    def close(self) -> None:
        self._db.close()
        if self.scratch:
            shutil.rmtree(self.path, ignore_errors=True)


def open_partition_store(data_dir: str, app_id: str, partition: int) -> RocksBacking:
    """The partition's local store, or a scratch one when another process holds it."""
    path = Path(data_dir) / app_id / "state" / f"p{partition}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return RocksBacking(path)
    except Exception as exc:  # noqa: BLE001 - rocksdict raises a bare Exception for a held lock
        scratch = Path(tempfile.mkdtemp(prefix=f"p{partition}-", dir=path.parent))
        log.warning("local state of partition %d is held by another process (%s): restoring it into %s",
                    partition, type(exc).__name__, scratch)
        return RocksBacking(scratch, scratch=True)
