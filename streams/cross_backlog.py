"""The cross-policy checks waiting for the customer index, kept where a restart finds them.

While Redis is away the worker goes on validating and committing its inputs; the checks of
those inputs wait in a backlog. Kept in memory only, a worker stopped during the outage would
lose them, uncounted, with their inputs already committed. :class:`DiskBacklog` keeps each
waiting observation in a RocksDB directory of the worker's data directory, written before the
batch's outputs are sent (so before its offsets can be committed) and removed only once its
check has run: a restart, even a SIGKILL, picks the backlog up where it was.

An observation holds keyed hashes and masked values only (streams.core.crosspolicy.observation),
never the customer's data in clear. A directory another process holds (two workers sharing one
data directory) is not shared: that worker keeps its backlog in memory, and says so.
"""
from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from streams.core.crosspolicy.observation import MobileUse, Observation, PhoneCheck, Sighting
from streams.local_state import RocksBacking

log = logging.getLogger(__name__)

_PREFIX = "o"
_OFFSET = 10**15
"""Sequence numbers run both ways (a failed batch goes back to the front): stored shifted so that
the keys, zero-padded, sort in the backlog's order."""


class Backlog(Protocol):
    """Observations waiting for the customer index, oldest first."""

    def __len__(self) -> int: ...

    def append(self, observations: Iterable[Observation]) -> None:
        """Add at the back (the newest)."""

    def peek(self, count: int) -> list[Observation]:
        """The oldest ``count``, left in place until :meth:`drop`."""

    def drop(self, count: int) -> None:
        """Remove the oldest ``count`` (their checks ran, or they were given up)."""

    def close(self) -> None: ...


class MemoryBacklog:
    def __init__(self) -> None:
        self._items: deque[Observation] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def append(self, observations: Iterable[Observation]) -> None:
        self._items.extend(observations)

    def peek(self, count: int) -> list[Observation]:
        return [self._items[n] for n in range(min(count, len(self._items)))]

    def drop(self, count: int) -> None:
        for _ in range(min(count, len(self._items))):
            self._items.popleft()

    def close(self) -> None:
        self._items.clear()


class DiskBacklog:
    """A :class:`Backlog` mirrored on local disk; what it holds is read back when it is opened."""

    def __init__(self, backing: RocksBacking) -> None:
        self._backing = backing
        self._items: deque[tuple[int, Observation]] = deque()
        unreadable = 0
        for key, value in backing.scan(_PREFIX):
            try:
                self._items.append((int(key[len(_PREFIX):]) - _OFFSET, observation_from_json(value)))
            except (ValueError, KeyError, TypeError) as exc:
                unreadable += 1
                log.error("a waiting cross-policy check cannot be read back (%s): dropped", type(exc).__name__)
                backing.write({key: None})
        self._next = self._items[-1][0] + 1 if self._items else 0
        if self._items or unreadable:
            log.warning("%d cross-policy checks were waiting from before the restart", len(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def append(self, observations: Iterable[Observation]) -> None:
        writes: dict[str, bytes | None] = {}
        for observation in observations:
            self._items.append((self._next, observation))
            writes[_key(self._next)] = observation_to_json(observation)
            self._next += 1
        if writes:
            self._backing.write(writes)

    def peek(self, count: int) -> list[Observation]:
        return [self._items[n][1] for n in range(min(count, len(self._items)))]

    def drop(self, count: int) -> None:
        gone: dict[str, bytes | None] = {}
        for _ in range(min(count, len(self._items))):
            sequence, _ = self._items.popleft()
            gone[_key(sequence)] = None
        if gone:
            self._backing.write(gone)

    def close(self) -> None:
        self._backing.close()


def open_backlog(data_dir: str, app_id: str) -> Backlog:
    """The worker's backlog in ``<data_dir>/<app_id>/cross-backlog``; in memory (logged) when
    another process holds that directory or it cannot be made."""
    path = Path(data_dir) / app_id / "cross-backlog"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return DiskBacklog(RocksBacking(path))
    except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception for a held lock
        log.warning("cross-policy backlog kept in memory only (%s): a restart during a Redis outage loses it",
                    type(exc).__name__)
        return MemoryBacklog()


def _key(sequence: int) -> str:
    return f"{_PREFIX}{sequence + _OFFSET:020d}"


def observation_to_json(observation: Observation) -> bytes:
    use = observation.use
    return json.dumps({
        "event_id": observation.event_id, "policy_no": observation.policy_no, "channel": observation.channel,
        "branch_code": observation.branch_code, "at": observation.at.isoformat(), "actor": observation.actor,
        "sightings": [[s.person, s.id_masked, list(s.roles), [list(pair) for pair in s.attributes]]
                      for s in observation.sightings],
        "phones": [[p.mobile, p.mobile_masked, p.person, list(p.parties)] for p in observation.phones],
        "use": [use.mobile, use.mobile_masked, use.holder] if use is not None else None,
        "documents": sorted(observation.documents),
    }, ensure_ascii=False, separators=(",", ":")).encode()


def observation_from_json(raw: bytes) -> Observation:
    data: dict[str, Any] = json.loads(raw)
    use = data["use"]
    return Observation(
        event_id=data["event_id"], policy_no=data["policy_no"], channel=data["channel"],
        branch_code=data["branch_code"], at=datetime.fromisoformat(data["at"]), actor=data["actor"],
        sightings=tuple(Sighting(person, masked, tuple(roles), tuple((name, value) for name, value in attributes))
                        for person, masked, roles, attributes in data["sightings"]),
        phones=tuple(PhoneCheck(mobile, masked, person, tuple(parties))
                     for mobile, masked, person, parties in data["phones"]),
        use=MobileUse(*use) if use is not None else None,
        documents=frozenset(data["documents"]),
    )
