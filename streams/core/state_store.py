"""A partition's policy states, each parsed from its changelog value on first use.

A restart used to parse every policy's state before serving (about 50 µs a policy with
pydantic, so close to a minute at a million policies) and kept every one in memory as
models (about 6.5 KB each) although most policies see no event for weeks. Here a restored
policy stays the bytes it was stored as (~1.2 KB) until an event or a deadline needs it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping

from streams.core.detection import PolicyState


class StateStore(MutableMapping[str, PolicyState]):
    def __init__(self, parsed: dict[str, PolicyState] | None = None,
                 unparsed: dict[str, bytes] | None = None) -> None:
        self._parsed: dict[str, PolicyState] = parsed if parsed is not None else {}
        self._unparsed: dict[str, bytes] = unparsed if unparsed is not None else {}
        self.on_parse: Callable[[str, PolicyState], None] | None = None
        """Completes a state parsed from its bytes (its held edits' records, stored apart)."""

    def __getitem__(self, key: str) -> PolicyState:
        state = self._parsed.get(key)
        if state is not None:
            return state
        blob = self._unparsed[key]  # KeyError: no such policy
        state = PolicyState.from_json(blob)  # StateVersionError: unreadable, left as it was
        if self.on_parse is not None:
            self.on_parse(key, state)
        del self._unparsed[key]
        self._parsed[key] = state
        return state

    def __setitem__(self, key: str, state: PolicyState) -> None:
        self._unparsed.pop(key, None)
        self._parsed[key] = state

    def __delitem__(self, key: str) -> None:
        found = self._parsed.pop(key, None) is not None
        found = self._unparsed.pop(key, None) is not None or found
        if not found:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._parsed or key in self._unparsed

    def __iter__(self) -> Iterator[str]:
        yield from list(self._parsed)
        yield from list(self._unparsed)

    def __len__(self) -> int:
        return len(self._parsed) + len(self._unparsed)

    @property
    def parsed(self) -> int:
        """How many states are held as models (the rest are still their stored bytes)."""
        return len(self._parsed)
