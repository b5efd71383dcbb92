"""One input partition's share of the work: its policies, its stream clocks, what is due.

Like a Kafka Streams task: a partition's state belongs to whichever worker owns that
partition, and moves with it. The task is plain data and pure logic; the worker keeps one per
assigned partition (recovered from the partition's changelog, dropped on revoke), replay
keeps one for all its input.
"""
from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from streams.core.detection import PolicyMachine, PolicyState, StreamTimes
from streams.core.detection.state import PAYLOAD_FIELDS, STATE_VERSION, Clock, StateUnreadable
from streams.core.due_index import DueIndex
from streams.core.event_time import ERA_GAP, ERA_QUIET, WINDOW, Eras, stream_time
from streams.core.origin import Stream
from streams.core.state_store import DERIVED, Backing, MemoryBacking, StateStore, is_policy_key

log = logging.getLogger(__name__)

STREAM_TIMES_KEY = "\x00stream-times"
"""The changelog key of a partition's stream times; a policy_no never holds a control character."""
HELD_MARK = "\x00held\x00"
"""Marks the changelog key of one record of a held edit: ``policy_no HELD_MARK field NUL event_id``."""


def held_key(policy_no: str, event_id: str, field: str) -> str:
    return f"{policy_no}{HELD_MARK}{field}\x00{event_id}"


def held_policy(key: str) -> str:
    return key.split(HELD_MARK, 1)[0]


INDEX_PREFIX = DERIVED + "due\x00"
"""Backing-store key prefix of a policy's deadlines and open hold (only policies that have any)."""
HELD_PREFIX = DERIVED + "held\x00"
"""Backing-store key prefix of the held edits' records (their changelog key follows)."""
CHECKPOINT_KEY = DERIVED + "checkpoint"
"""The changelog offset the backing store has everything up to (written by the worker)."""


def derived(key: str, value: bytes | None) -> dict[str, bytes | None]:
    """What a changelog record writes to the backing store: itself (a held edit's record under
    its prefix) and, for a policy, its index entry (StateVersionError for a state whose format
    this release cannot read, when it has no index entry to go by)."""
    if HELD_MARK in key:
        return {HELD_PREFIX + key: value}
    if not is_policy_key(key):
        return {key: value}
    entry: bytes | None = None
    if value is not None:
        peeked = _peek(value)
        if peeked is None:
            raise _Unindexed(key)
        due, channel = peeked
        if due or channel is not None:
            entry = _encode_entry(due, channel)
    return {key: value, INDEX_PREFIX + key: entry}


class _Unindexed(Exception):
    """A stored state without an index entry: it must be parsed to be indexed."""


class PartitionTask:
    def __init__(
        self,
        machine: PolicyMachine,
        partition: int = 0,
        states: dict[str, PolicyState] | StateStore | None = None,
        observed: StreamTimes | None = None,
        windows: dict[Stream, list[datetime]] | None = None,
        *,
        eras: Eras | None = None,
        lateness_s: float = 0.0,
        indexed: dict[str, tuple[dict[Clock, datetime], str | None]] | None = None,
        payloads: dict[str, bytes] | None = None,
    ) -> None:
        """``indexed``: the deadlines and hold channel of stored states, not parsed (restore);
        ``payloads``: the held edits' records, stored beside their states (restore)."""
        self.machine = machine
        self.partition = partition
        self.payloads: dict[str, bytes] = dict(payloads or {})
        """Held edits' records by changelog key: a group policy's held edit carries hundreds of
        KB, which its state record (limited to one Kafka message) must not."""
        self.held_of: dict[str, set[str]] = {}
        for key in self.payloads:
            self.held_of.setdefault(held_policy(key), set()).add(key.rsplit("\x00", 1)[1])
        self.states: StateStore = states if isinstance(states, StateStore) else StateStore(parsed=dict(states or {}))
        self.states.on_parse = self.attach
        self.observed = observed or StreamTimes()
        """Each topic's stream time: the median of its latest event times, never going back."""
        self.windows: dict[Stream, list[datetime]] = {stream: list(windows.get(stream, [])) if windows else []
                                                      for stream in Stream}
        self.eras = eras or Eras()
        """How far the oldest era still being read has got (a backfill beside live traffic)."""
        self._quiet_since: datetime | None = None
        """When both topics were last found caught up together, while an older era was held."""
        self.lateness = timedelta(seconds=lateness_s)
        self.idle: frozenset[Stream] = frozenset()
        """Topics of this partition that are caught up (live only): the wall clock stands in."""
        self.index = DueIndex()
        self.holds: dict[str, str] = {}
        """Policies with an open commission hold → its channel: the gauge is recounted from
        this, in O(holds) rather than O(all state)."""
        indexed = indexed or {}
        for key, (deadlines, hold_channel) in indexed.items():
            self.index.set(key, deadlines)
            if hold_channel is not None:
                self.holds[key] = hold_channel
        for key in list(self.states.parsed_keys()):
            if key not in indexed:
                state = self.states[key]
                self.index.set(key, machine.deadlines(state))
                self._track_hold(key, state)
        self._times_dirty = False

    def commit(self, key: str, state: PolicyState | None, blob: bytes | None,
               deadlines: dict[Clock, datetime] | None = None) -> None:
        """Adopt a policy's next state (None: forget it) and remember to persist it.
        ``deadlines``: the state's, when the caller has them already (they are in its blob)."""
        if state is None:
            if key in self.states:
                del self.states[key]
            self.states.commit(key, None)
            self.index.discard(key)
        else:
            if deadlines is None:
                deadlines = self.machine.deadlines(state)
            self.states[key] = state
            self.states.commit(key, blob if blob is not None else state.to_json(due=deadlines))
            self.index.set(key, deadlines)
        self._track_hold(key, state)
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
                    encoded = value.encode()
                    self.payloads[name] = encoded
                    self.states.commit(name, encoded)
        for event_id in before - current.keys():
            for field in PAYLOAD_FIELDS:
                name = held_key(key, event_id, field)
                if self.payloads.pop(name, None) is not None:
                    self.states.commit(name, None)
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
        blob = self.states.stored(key)
        if blob is None and key in self.states:
            blob = self.states[key].to_json()  # given to the task as a model, never committed
        return blob

    def observe(self, stream: Stream, moment: datetime, *, outlier: bool = False) -> None:
        """A record of ``stream`` with this event time was read. Stream time is the median of
        the topic's latest event times and never goes back, so one record far ahead cannot
        move it; it counts only as far as the oldest era still being read has got
        (streams.core.event_time). A date flagged as typed far back (``outlier``) is no era."""
        own = self.observed.policy if stream is Stream.POLICY else self.observed.endorsement
        if not outlier:
            self.eras.read(stream.value, moment.timestamp(), own.timestamp() if own is not None else None,
                           self.lateness.total_seconds())
        window = self.windows[stream]
        window.append(moment)
        del window[:-WINDOW]
        self._times_dirty = True
        median = stream_time(window)
        if median is None:
            return
        if own is None:
            # The stream time forms: a record it leaves far behind was read before the traffic
            # that formed it, perhaps an older era's first (a backfill's, beside live traffic).
            behind = [earlier for earlier in window if earlier < median - ERA_GAP]
            if behind:
                self.eras.hold(max(behind).timestamp())
        elif median > own + ERA_GAP:
            self.eras.hold(own.timestamp())  # it leaps: where it was, for a while
        if stream is Stream.POLICY:
            if self.observed.policy is None or median > self.observed.policy:
                self.observed = StreamTimes(median, self.observed.endorsement)
        elif self.observed.endorsement is None or median > self.observed.endorsement:
            self.observed = StreamTimes(self.observed.policy, median)

    def times(self, now: datetime) -> StreamTimes:
        """Safe stream times: how far each topic of the partition has got, held back to how far
        the oldest era still being read has got, less the lateness allowance (records of one
        partition are near event-time order, not exactly); the wall clock stands in for a topic
        that is caught up."""
        era, held = self.eras.era_cap(), self.eras.held_cap()
        backfill = self.eras.era_cap(records=2)
        if len(self.idle) < len(Stream):
            self._quiet_since = None
        elif backfill is not None:
            self._quiet_since = self._quiet_since or now
            if now - self._quiet_since >= ERA_QUIET:
                backfill = None  # both topics caught up for long: the older era is done
        return StreamTimes(self._time(Stream.POLICY, self.observed.policy, era, held, backfill, now),
                           self._time(Stream.ENDORSEMENT, self.observed.endorsement, era, held, backfill, now))

    def _time(self, stream: Stream, observed: datetime | None, era: float | None, held: float | None,
              backfill: float | None, now: datetime) -> datetime | None:
        """While an older era of several records is being read, no wall clock, not even for a
        caught-up topic (the era may publish its endorsements after a pause); otherwise a caught-up
        topic hands over to the wall clock as usual, and a reading one is held back."""
        if backfill is None and stream in self.idle:
            return self._safe(stream, observed, now)
        caps = [cap for cap in (era, held) if cap is not None]
        return self._held(observed, min(caps)) if caps else self._safe(stream, observed, now)

    def _held(self, observed: datetime | None, cap: float) -> datetime | None:
        if observed is None:
            return None
        reached = observed if cap >= observed.timestamp() else datetime.fromtimestamp(cap, UTC)
        return reached - self.lateness

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
        """The records to persist since the last call (policy states, None deleting; held
        edits' records; the partition's stream times), moved to the backing store with what
        derives from them. Called once the outputs they account for are acknowledged: the
        backing store never holds a state whose outputs were not sent."""
        dirty = self.states.take_unflushed()
        if self._times_dirty:
            dirty[STREAM_TIMES_KEY] = encode_times(self.observed, self.windows, self.eras)
            self._times_dirty = False
        writes: dict[str, bytes | None] = {}
        for key, value in dirty.items():
            writes.update(derived(key, value))  # committed states always lead with their index entry
        if writes:
            self.states.backing.write(writes)
        return dirty

    def checkpoint(self, offset: int) -> None:
        """The changelog offset up to which the backing store holds everything."""
        self.states.backing.write({CHECKPOINT_KEY: str(offset).encode()})

    @classmethod
    def restore(cls, machine: PolicyMachine, partition: int, records: Mapping[bytes, bytes | None], *,
                lateness_s: float = 0.0, backing: Backing | None = None, cache_size: int | None = None,
                ) -> PartitionTask:
        """From a changelog partition's latest records, applied over ``backing`` (empty by
        default; the worker's local store holds what it had up to its checkpoint). Raises
        StateVersionError on a format this release cannot read.

        States are indexed from the deadlines stored beside them and parsed on first use; a
        record without them (or with a version this release does not write) is parsed now.
        """
        backing = backing if backing is not None else MemoryBacking()
        parsed = apply_changelog(backing, records, machine)
        return cls.from_backing(machine, partition, backing, lateness_s=lateness_s, cache_size=cache_size,
                                parsed=parsed)

    @classmethod
    def from_backing(cls, machine: PolicyMachine, partition: int, backing: Backing, *, lateness_s: float = 0.0,
                     cache_size: int | None = None, parsed: dict[str, PolicyState] | None = None) -> PartitionTask:
        """The task over a backing store, from its derived entries alone: the deadline index
        and the held edits' records (a prefix scan each), never every state."""
        with paused_gc():
            times = backing.get(STREAM_TIMES_KEY)
            observed, windows, eras = decode_times(times) if times is not None else (StreamTimes(), {}, Eras())
            indexed: dict[str, tuple[dict[Clock, datetime], str | None]] = {}
            for key, entry in backing.scan(INDEX_PREFIX):
                peeked = _decode_entry(entry)
                if peeked is not None:
                    indexed[key[len(INDEX_PREFIX):]] = peeked
            payloads = {key[len(HELD_PREFIX):]: value for key, value in backing.scan(HELD_PREFIX)}
            states = StateStore(backing, cache_size=cache_size, parsed=parsed)
            task = cls(machine, partition, states, observed, windows, eras=eras, lateness_s=lateness_s,
                       indexed=indexed,
                       payloads=payloads)
            for key, state in (parsed or {}).items():
                task.attach(key, state)
            return task


def apply_changelog(backing: Backing, records: Mapping[bytes, bytes | None],
                    machine: PolicyMachine) -> dict[str, PolicyState]:
    """Write changelog records (a None value deletes) to a backing store with what derives from
    them; the states that had to be parsed to be indexed are returned, parsed."""
    parsed: dict[str, PolicyState] = {}
    writes: dict[str, bytes | None] = {}
    with paused_gc():
        for raw_key, value in records.items():
            key = raw_key.decode("utf-8")
            if key == RESTORE_MARKER:
                continue
            try:
                writes.update(derived(key, value))
            except _Unindexed:
                if value is None:  # derived() indexes every deletion; a None here is a defect
                    raise ValueError("an unindexed deletion in the changelog") from None
                try:
                    state = parsed[key] = PolicyState.from_json(value)
                except StateUnreadable:
                    # Kept as it is: that policy's next event is quarantined naming the state stage.
                    log.error("a stored policy state of this format does not read; its policy's events will "
                              "be quarantined until it is replaced")
                    writes[key] = value
                    continue
                writes.update({key: value, INDEX_PREFIX + key: _encode_entry(
                    machine.deadlines(state), state.hold_channel)})
    backing.write(writes)
    return parsed


RESTORE_MARKER = "\x00restore-marker"
"""A changelog key a worker writes before reading a partition back: seeing its own marker again
is how it knows it read everything written before (tansu under-reports end offsets)."""


def _encode_entry(due: dict[Clock, datetime], channel: str | None) -> bytes | None:
    if not due and channel is None:
        return None
    entry: dict[str, object] = {"due": {clock.value: at.isoformat() for clock, at in due.items()}}
    if channel is not None:
        entry["hold"] = channel
    return json.dumps(entry, separators=(",", ":")).encode()


def _decode_entry(raw: bytes) -> tuple[dict[Clock, datetime], str | None] | None:
    try:
        entry = json.loads(raw)
        return ({Clock(clock): datetime.fromisoformat(at) for clock, at in entry["due"].items()},
                entry.get("hold"))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


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
    still frees each one when it is replaced.

    What an earlier assignment froze is thawed and the garbage collected first: a frozen cycle
    is never collected, so freezing at every rebalance without that would keep each
    rebalance's garbage (and the states of partitions since revoked, if cyclic) for good."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def encode_times(times: StreamTimes, windows: dict[Stream, list[datetime]] | None = None,
                 eras: Eras | None = None) -> bytes:
    return json.dumps({
        "policy": times.policy.isoformat() if times.policy else None,
        "endorsement": times.endorsement.isoformat() if times.endorsement else None,
        "windows": {stream.value: [moment.isoformat() for moment in window]
                    for stream, window in (windows or {}).items() if window},
        "eras": eras.to_json() if eras is not None else None,
    }).encode()


def decode_times(raw: bytes) -> tuple[StreamTimes, dict[Stream, list[datetime]], Eras]:
    """The stream times, the median windows and the eras (a record of an earlier release has no
    eras, or no windows either)."""
    document = json.loads(raw)
    parse = lambda value: datetime.fromisoformat(value) if value else None  # noqa: E731
    windows = {Stream(name): [datetime.fromisoformat(at) for at in window]
               for name, window in (document.get("windows") or {}).items()}
    times = StreamTimes(parse(document.get("policy")), parse(document.get("endorsement")))
    raw_eras = document.get("eras")
    eras = Eras.from_json(raw_eras) if isinstance(raw_eras, dict) else Eras()
    if not isinstance(raw_eras, dict):  # an earlier release's record: what its windows show of an older era
        for stream, window in windows.items():
            reached = times.policy if stream is Stream.POLICY else times.endorsement
            behind = [earlier for earlier in window if reached is not None and earlier < reached - ERA_GAP]
            if behind:
                eras.hold(max(behind).timestamp())
    return times, windows, eras
