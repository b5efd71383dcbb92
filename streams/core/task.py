"""One input partition's share of the work: its policies, its stream clocks, what is due.

Like a Kafka Streams task: a partition's state belongs to whichever worker owns that
partition, and moves with it. The task is plain data and pure logic; the worker keeps one per
assigned partition (recovered from the partition's changelog, dropped on revoke), replay
keeps one for all its input.
"""
from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from streams.core.detection import PolicyMachine, PolicyState, StreamTimes
from streams.core.detection.state import PAYLOAD_FIELDS, STATE_VERSION, Clock
from streams.core.due_index import DueIndex
from streams.core.event_time import WINDOW, stream_time
from streams.core.origin import Stream
from streams.core.state_store import StateStore

STREAM_TIMES_KEY = "\x00stream-times"
"""The changelog key of a partition's stream times; a policy_no never holds a control character."""
HELD_MARK = "\x00held\x00"
"""Marks the changelog key of one record of a held edit: ``policy_no HELD_MARK field NUL event_id``."""


def held_key(policy_no: str, event_id: str, field: str) -> str:
    return f"{policy_no}{HELD_MARK}{field}\x00{event_id}"


def held_policy(key: str) -> str:
    return key.split(HELD_MARK, 1)[0]


class PartitionTask:
    def __init__(
        self,
        machine: PolicyMachine,
        partition: int = 0,
        states: dict[str, PolicyState] | StateStore | None = None,
        observed: StreamTimes | None = None,
        windows: dict[Stream, list[datetime]] | None = None,
        *,
        lateness_s: float = 0.0,
        blobs: dict[str, bytes] | None = None,
        indexed: dict[str, tuple[dict[Clock, datetime], str | None]] | None = None,
        payloads: dict[str, bytes] | None = None,
    ) -> None:
        """``indexed``: the deadlines and hold channel of states not parsed yet (restore);
        ``payloads``: the held edits' records, stored beside their states (restore)."""
        self.machine = machine
        self.partition = partition
        self.payloads: dict[str, bytes] = dict(payloads or {})
        """Held edits' records by changelog key: a group policy's held edit carries hundreds of
        KB, which its state record (limited to one Kafka message) must not."""
        self.held_of: dict[str, set[str]] = {}
        for key in self.payloads:
            self.held_of.setdefault(held_policy(key), set()).add(key.rsplit("\x00", 1)[1])
        self.states: StateStore = states if isinstance(states, StateStore) else StateStore(dict(states or {}))
        self.states.on_parse = self.attach
        self.blobs: dict[str, bytes] = blobs if blobs is not None else {}
        """Each policy's state as last committed (its changelog value): the restore point when a
        stage fails half-way, kept rather than serialised again before every event."""
        self.observed = observed or StreamTimes()
        """Each topic's stream time: the median of its latest event times, never going back."""
        self.windows: dict[Stream, list[datetime]] = {stream: list(windows.get(stream, [])) if windows else []
                                                      for stream in Stream}
        self.lateness = timedelta(seconds=lateness_s)
        self.idle: frozenset[Stream] = frozenset()
        """Topics of this partition that are caught up (live only): the wall clock stands in."""
        self.index = DueIndex()
        self.holds: dict[str, str] = {}
        """Policies with an open commission hold → its channel: the gauge is recounted from
        this, in O(holds) rather than O(all state)."""
        indexed = indexed or {}
        for key in self.states:
            if key in indexed:
                deadlines, hold_channel = indexed[key]
                self.index.set(key, deadlines)
                if hold_channel is not None:
                    self.holds[key] = hold_channel
            else:
                state = self.states[key]
                self.index.set(key, machine.deadlines(state))
                self._track_hold(key, state)
        self._dirty: dict[str, bytes | None] = {}
        self._times_dirty = False

    def commit(self, key: str, state: PolicyState | None, blob: bytes | None,
               deadlines: dict[Clock, datetime] | None = None) -> None:
        """Adopt a policy's next state (None: forget it) and remember to persist it.
        ``deadlines``: the state's, when the caller has them already (they are in its blob)."""
        if state is None:
            self.states.pop(key, None)
            self.blobs.pop(key, None)
            self.index.discard(key)
        else:
            self.states[key] = state
            if blob is not None:
                self.blobs[key] = blob
            else:
                self.blobs.pop(key, None)
            self.index.set(key, deadlines if deadlines is not None else self.machine.deadlines(state))
        self._track_hold(key, state)
        self._dirty[key] = blob
        self._store_held(key, state)

    def _store_held(self, key: str, state: PolicyState | None) -> None:
        """Write the records of edits newly held, delete those of edits decided."""
        current = {pending.event_id: pending for pending in state.pending} if state is not None else {}
        before = self.held_of.get(key, set())
        for event_id in current.keys() - before:
            for field in PAYLOAD_FIELDS:
                value = getattr(current[event_id], field)
                if value is not None:
                    name = held_key(key, event_id, field)
                    self.payloads[name] = self._dirty[name] = value.encode()
        for event_id in before - current.keys():
            for field in PAYLOAD_FIELDS:
                name = held_key(key, event_id, field)
                if self.payloads.pop(name, None) is not None:
                    self._dirty[name] = None
        if current:
            self.held_of[key] = set(current)
        else:
            self.held_of.pop(key, None)

    def attach(self, key: str, state: PolicyState) -> None:
        """Give a state read from its bytes its held edits' records back."""
        for pending in state.pending:
            for field in PAYLOAD_FIELDS:
                if getattr(pending, field) is None:
                    value = self.payloads.get(held_key(key, pending.event_id, field))
                    if value is not None:
                        setattr(pending, field, value.decode())

    def reload(self, key: str, blob: bytes) -> PolicyState:
        """The policy's state as committed (``blob``), complete, replacing what is in memory."""
        state = PolicyState.from_json(blob)
        self.attach(key, state)
        self.states[key] = state
        return state

    def _track_hold(self, key: str, state: PolicyState | None) -> None:
        channel = state.hold_channel if state is not None else None
        if channel is not None:
            self.holds[key] = channel
        else:
            self.holds.pop(key, None)

    def blob_of(self, key: str) -> bytes | None:
        """The policy's committed state, serialised (None: no state)."""
        blob = self.blobs.get(key)
        if blob is None and key in self.states:
            blob = self.blobs[key] = self.states[key].to_json()
        return blob

    def observe(self, stream: Stream, moment: datetime) -> None:
        """A record of ``stream`` with this event time was read. Stream time is the median of
        the topic's latest event times and never goes back, so one record far ahead cannot
        move it (streams.core.event_time)."""
        window = self.windows[stream]
        window.append(moment)
        del window[:-WINDOW]
        self._times_dirty = True
        median = stream_time(window)
        if median is None:
            return
        if stream is Stream.POLICY:
            if self.observed.policy is None or median > self.observed.policy:
                self.observed = StreamTimes(median, self.observed.endorsement)
        elif self.observed.endorsement is None or median > self.observed.endorsement:
            self.observed = StreamTimes(self.observed.policy, median)

    def stream_time(self, stream: Stream) -> datetime | None:
        """How far this partition of ``stream``'s topic has got (its median event time)."""
        return self.observed.policy if stream is Stream.POLICY else self.observed.endorsement

    def reference(self) -> datetime | None:
        """How far the partition has got on either topic (what an outlier is measured against)."""
        return self.observed.on(Clock.ANY)

    def times(self, now: datetime) -> StreamTimes:
        """Safe stream times: how far each topic of the partition has got, less the lateness
        allowance (records of one partition are near event-time order, not exactly); the wall
        clock stands in for a topic that is caught up."""
        return StreamTimes(self._safe(Stream.POLICY, self.observed.policy, now),
                           self._safe(Stream.ENDORSEMENT, self.observed.endorsement, now))

    def final_times(self, now: datetime) -> StreamTimes:
        """Safe stream times at the end of input (replay): the windows not yet full count too."""
        ends = {stream: stream_time(self.windows[stream], final=True) for stream in Stream}
        policy = max((t for t in (self.observed.policy, ends[Stream.POLICY]) if t is not None), default=None)
        endorsement = max((t for t in (self.observed.endorsement, ends[Stream.ENDORSEMENT]) if t is not None),
                          default=None)
        return StreamTimes(self._safe(Stream.POLICY, policy, now), self._safe(Stream.ENDORSEMENT, endorsement, now))

    def _safe(self, stream: Stream, observed: datetime | None, now: datetime) -> datetime | None:
        if stream in self.idle:
            return max(observed, now) if observed is not None else now
        return observed - self.lateness if observed is not None else None

    def take_dirty(self) -> dict[str, bytes | None]:
        """The records to persist since the last call: policy states (None deletes) and the
        partition's stream times."""
        dirty, self._dirty = self._dirty, {}
        if self._times_dirty:
            dirty[STREAM_TIMES_KEY] = encode_times(self.observed, self.windows)
            self._times_dirty = False
        return dirty

    @classmethod
    def restore(cls, machine: PolicyMachine, partition: int, records: dict[bytes, bytes], *,
                lateness_s: float = 0.0) -> PartitionTask:
        """From a changelog partition's latest records (raises StateVersionError on a format
        this release cannot read).

        States are indexed from the deadlines stored beside them and parsed on first use; a
        record without them (or with a version this release does not write) is parsed now.
        """
        parsed: dict[str, PolicyState] = {}
        unparsed: dict[str, bytes] = {}
        blobs: dict[str, bytes] = {}
        indexed: dict[str, tuple[dict[Clock, datetime], str | None]] = {}
        observed = StreamTimes()
        windows: dict[Stream, list[datetime]] = {}
        payloads: dict[str, bytes] = {}
        with paused_gc():
            for raw_key, value in records.items():
                key = raw_key.decode("utf-8")
                if key == STREAM_TIMES_KEY:
                    observed, windows = decode_times(value)
                    continue
                if HELD_MARK in key:
                    payloads[key] = value
                    continue
                blobs[key] = value
                peeked = _peek(value)
                if peeked is None:
                    parsed[key] = PolicyState.from_json(value)
                else:
                    unparsed[key] = value
                    indexed[key] = peeked
            task = cls(machine, partition, StateStore(parsed, unparsed), observed, windows, lateness_s=lateness_s,
                       blobs=blobs, indexed=indexed, payloads=payloads)
            for key, state in parsed.items():
                task.attach(key, state)
            return task


_INDEX_ENTRY = json.JSONDecoder()
_INDEX_ENTRY_PREFIX = f'{{"v":{STATE_VERSION},"pg":'
INDEX_ENTRY_BYTES = 1024
"""The index entry leads the record and is ~150 bytes (three timestamps and a channel)."""


def _peek(blob: bytes) -> tuple[dict[Clock, datetime], str | None] | None:
    """The deadlines and open hold's channel from the index entry leading a stored state,
    without building the state; None when the record has no entry (then it is parsed, which
    also checks it)."""
    head = blob[:INDEX_ENTRY_BYTES].decode("utf-8", errors="ignore")
    if not head.startswith(_INDEX_ENTRY_PREFIX):
        return None
    try:
        entry, _ = _INDEX_ENTRY.raw_decode(head, len(_INDEX_ENTRY_PREFIX))
        deadlines = {Clock(clock): datetime.fromisoformat(at) for clock, at in entry["due"].items()}
        channel = entry.get("hold")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if channel is not None and not isinstance(channel, str):
        return None
    return deadlines, channel


@contextmanager
def paused_gc() -> Iterator[None]:
    """Building a partition's states allocates millions of objects and no garbage: with the
    collector running, every few thousand allocations it re-scans all that was built so far
    (restoring took twice as long)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_restored() -> None:
    """Move what is alive now (the restored states) out of the collector's view: they live
    until their policy's next event, and full collections would otherwise scan them all,
    holding the event loop for as long as the state is large. Plain reference counting
    still frees each one when it is replaced."""
    gc.freeze()


def encode_times(times: StreamTimes, windows: dict[Stream, list[datetime]] | None = None) -> bytes:
    return json.dumps({
        "policy": times.policy.isoformat() if times.policy else None,
        "endorsement": times.endorsement.isoformat() if times.endorsement else None,
        "windows": {stream.value: [moment.isoformat() for moment in window]
                    for stream, window in (windows or {}).items() if window},
    }).encode()


def decode_times(raw: bytes) -> tuple[StreamTimes, dict[Stream, list[datetime]]]:
    """The stream times and windows (a record written before windows were kept has none)."""
    document = json.loads(raw)
    parse = lambda value: datetime.fromisoformat(value) if value else None  # noqa: E731
    windows = {Stream(name): [datetime.fromisoformat(at) for at in window]
               for name, window in (document.get("windows") or {}).items()}
    return StreamTimes(parse(document.get("policy")), parse(document.get("endorsement"))), windows
