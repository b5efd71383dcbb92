"""When a topic partition is idle: caught up, and quiet for a while the worker was running.

Only then may the wall clock stand in for the partition's stream time (docs/delivery.md). A
partition whose records wait unread is not quiet, whatever the time since the last one: a worker
stopped by a long garbage collection, a throttled container or SIGSTOP sees no records for as
long as it is stopped, and taking that for silence decides held edits before their
authorizations are read. So the quiet time counts only time the worker was running (a gap
between two sweeps longer than the stall limit starts every clock over), starts over at every
rebalance, and runs only while everything up to the partition's end has been processed here.

Plain logic with the times passed in; the worker (``streams.app``) feeds it.
"""
from __future__ import annotations

from collections.abc import Hashable


class IdleClocks:
    def __init__(self, idle_after_s: float, stall_after_s: float) -> None:
        """``stall_after_s``: a gap between sweeps longer than this is time the worker did not run."""
        self.idle_after_s = idle_after_s
        self.stall_after_s = stall_after_s
        self.quiet_since: dict[Hashable, float] = {}
        self.consumed: dict[Hashable, int] = {}
        """The offset after the last record processed here, per topic partition."""
        self.last_sweep: float | None = None

    def record(self, position: Hashable, offset: int, now: float) -> None:
        """A record of that topic partition was processed."""
        self.quiet_since[position] = now
        self.consumed[position] = offset + 1

    def start(self, position: Hashable, now: float) -> None:
        """The partition was (re)assigned: nothing processed here yet, not quiet yet."""
        self.quiet_since[position] = now
        self.consumed.pop(position, None)

    def forget(self, position: Hashable) -> None:
        self.quiet_since.pop(position, None)
        self.consumed.pop(position, None)

    def restart(self, now: float) -> None:
        """Every clock starts over (a stall, a rebalance)."""
        for position in self.quiet_since:
            self.quiet_since[position] = now

    def sweep(self, now: float) -> float | None:
        """A sweep runs now; returns the length of the stall before it, if there was one (the
        clocks have then started over)."""
        previous, self.last_sweep = self.last_sweep, now
        if previous is not None and now - previous > self.stall_after_s:
            self.restart(now)
            return now - previous
        return None

    def idle(self, position: Hashable, end: int | None, position_offset: int | None, now: float) -> bool:
        """Is the topic partition idle? ``end``: its end offset as last fetched (None: unknown);
        ``position_offset``: the consumer's position, used while nothing was processed here."""
        done = self.consumed.get(position, position_offset)
        if end is None or done is None or done < end:
            self.quiet_since[position] = now  # records wait unread, or the end is unknown: not quiet
            return False
        return now - self.quiet_since.setdefault(position, now) >= self.idle_after_s
