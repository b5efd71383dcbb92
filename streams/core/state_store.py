"""A partition's policy states: the stored bytes on a backing store, a bounded set parsed.

A policy's state lives as the bytes of its changelog record on a *backing* store: a dict in
replay and tests, RocksDB on the worker's local disk (``streams.local_state``), so ten million
policies in force cost disk, not memory, and a restart reads only the changelog written since
the store's checkpoint. A state is parsed when an event or a deadline needs it and kept parsed
in a least-recently-used cache of bounded size; what a step commits stays in memory
(``unflushed``) until the shell has sent it to the changelog, then goes to the backing store.

Keys on the backing store are the changelog's keys (a policy number, the partition's stream
times, a held edit's record) plus derived entries under ``\\x01``: the deadline index of every
policy that has one and the held edits' records, so a restart rebuilds both from a prefix scan
instead of reading every state.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Protocol

from streams.core.detection import PolicyState

DERIVED = "\x01"
"""Keys of derived entries start with this; control characters never start a policy number."""
CONTROL = ("\x00", DERIVED)


def is_policy_key(key: str) -> bool:
    return not key.startswith(CONTROL) and "\x00" not in key


class Backing(Protocol):
    """Where stored bytes live: a dict, or RocksDB on local disk."""

    def get(self, key: str) -> bytes | None: ...

    def write(self, items: Mapping[str, bytes | None]) -> None:
        """Put and (``None``) delete, all or nothing."""

    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """Every entry whose key starts with ``prefix``, in key order."""

    def close(self) -> None: ...


class MemoryBacking:
    """The backing store of replay, the driver and tests."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        self.data: dict[str, bytes] = data if data is not None else {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def write(self, items: Mapping[str, bytes | None]) -> None:
        for key, value in items.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value

    def scan(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        for key in sorted(k for k in self.data if k.startswith(prefix)):
            yield key, self.data[key]

    def close(self) -> None:
        return None


class StateStore(MutableMapping[str, PolicyState]):
    def __init__(self, backing: Backing | None = None, *, cache_size: int | None = None,
                 parsed: dict[str, PolicyState] | None = None) -> None:
        """``cache_size``: how many parsed states to keep (None: all, as replay does)."""
        self.backing: Backing = backing if backing is not None else MemoryBacking()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, PolicyState] = OrderedDict(parsed or {})
        self.unflushed: dict[str, bytes | None] = {}
        """Committed, not yet on the backing store: what the next changelog write carries."""
        self.on_parse: Callable[[str, PolicyState], None] | None = None
        """Completes a state parsed from its bytes (its held edits' records, stored apart)."""

    # -- stored bytes ------------------------------------------------------------------------

    def stored(self, key: str) -> bytes | None:
        """The latest committed bytes of ``key`` (None: nothing stored)."""
        if key in self.unflushed:
            return self.unflushed[key]
        return self.backing.get(key)

    def commit(self, key: str, blob: bytes | None) -> None:
        self.unflushed[key] = blob

    def take_unflushed(self) -> dict[str, bytes | None]:
        taken, self.unflushed = self.unflushed, {}
        return taken

    # -- parsed states -----------------------------------------------------------------------

    def __getitem__(self, key: str) -> PolicyState:
        state = self._cache.get(key)
        if state is not None:
            self._cache.move_to_end(key)
            return state
        blob = self.stored(key) if is_policy_key(key) else None
        if blob is None:
            raise KeyError(key)
        state = PolicyState.from_json(blob)  # StateVersionError: unreadable, left as it was
        if self.on_parse is not None:
            self.on_parse(key, state)
        self._remember(key, state)
        return state

    def _remember(self, key: str, state: PolicyState) -> None:
        self._cache[key] = state
        self._cache.move_to_end(key)
        if self.cache_size is not None:
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)  # its bytes are committed: it can be parsed again

    def __setitem__(self, key: str, state: PolicyState) -> None:
        self._remember(key, state)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._cache.pop(key, None)
        self.unflushed[key] = None

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._cache:
            return True
        return is_policy_key(key) and self.stored(key) is not None

    def __iter__(self) -> Iterator[str]:
        """Every policy (a scan of the backing store: for replay's end and tests, not a hot path)."""
        seen: set[str] = set()
        for key in list(self._cache):
            seen.add(key)
            yield key
        for key, blob in list(self.unflushed.items()):
            if blob is not None and key not in seen and is_policy_key(key):
                seen.add(key)
                yield key
        for key, _ in self.backing.scan():
            if key not in seen and is_policy_key(key) and self.unflushed.get(key, b"") is not None:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def parsed_keys(self) -> list[str]:
        return list(self._cache)

    @property
    def parsed(self) -> int:
        """How many states are held as models (the rest are their stored bytes)."""
        return len(self._cache)
