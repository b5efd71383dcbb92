"""Which policies have a decision due, per stream clock, in O(what is due).

A heap per clock holds ``(deadline, policy_no)``; an entry that no longer matches the
policy's current deadline is skipped when it surfaces (lazy deletion), and the heaps are
rebuilt when stale entries outnumber live ones, so memory stays proportional to the
policies that have something pending.
"""
from __future__ import annotations

import heapq
from datetime import datetime

from streams.core.detection.machine import Clock, StreamTimes

COMPACT_SLACK = 1024


class DueIndex:
    def __init__(self) -> None:
        self._heaps: dict[Clock, list[tuple[datetime, str]]] = {clock: [] for clock in Clock}
        self._current: dict[str, dict[Clock, datetime]] = {}
        self._entries = 0  # heap entries, stale ones included
        self._live = 0  # (policy, clock) deadlines in force

    def __len__(self) -> int:
        return len(self._current)

    def set(self, key: str, deadlines: dict[Clock, datetime]) -> None:
        old = self._current.get(key, {})
        if deadlines == old:
            return
        if deadlines:
            self._current[key] = dict(deadlines)
        else:
            self._current.pop(key, None)
        self._live += len(deadlines) - len(old)
        for clock, moment in deadlines.items():
            if old.get(clock) != moment:
                heapq.heappush(self._heaps[clock], (moment, key))
                self._entries += 1
        self._compact_if_stale()

    def discard(self, key: str) -> None:
        self._live -= len(self._current.pop(key, {}))

    def due(self, times: StreamTimes) -> list[str]:
        """Keys with a deadline the streams have reached, earliest first; each is taken out
        of the index (the caller sets its next deadlines after deciding)."""
        found: dict[str, datetime] = {}
        for clock, heap in self._heaps.items():
            now = times.on(clock)
            if now is None:
                continue
            while heap and heap[0][0] <= now:
                moment, key = heapq.heappop(heap)
                self._entries -= 1
                current = self._current.get(key)
                if current is None or current.get(clock) != moment:
                    continue  # stale: the deadline moved since
                del current[clock]
                self._live -= 1
                if not current:
                    del self._current[key]
                found[key] = min(found.get(key, moment), moment)
        return sorted(found, key=lambda key: (found[key], key))

    def _compact_if_stale(self) -> None:
        """Amortised O(1): a rebuild costs O(live) and happens only after as many stale pushes."""
        if self._entries <= 2 * self._live + COMPACT_SLACK:
            return
        for clock in self._heaps:
            self._heaps[clock] = [
                (deadlines[clock], key) for key, deadlines in self._current.items() if clock in deadlines
            ]
            heapq.heapify(self._heaps[clock])
        self._entries = sum(len(heap) for heap in self._heaps.values())
