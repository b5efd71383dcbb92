"""Which policies have a decision due, per stream clock, in O(what is due).

A heap per clock holds ``(deadline, policy_no)``. Most deadlines only ever move later (each
event of a policy pushes its retention back), so a later deadline pushes nothing: the entry
already queued surfaces early, and is queued again at the current deadline if that has not
come yet. Only a deadline moved earlier pushes a new entry, leaving the old one stale (skipped
when it surfaces). The heaps therefore hold about one entry per pending deadline, and the rare
rebuild when stale entries pile up is bounded by the same.
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
        self._queued: dict[Clock, dict[str, datetime]] = {clock: {} for clock in Clock}
        """The heap entry that stands for each (clock, policy): at or before its current deadline."""
        self._entries = 0  # heap entries, stale ones included

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
        for clock, moment in deadlines.items():
            queued = self._queued[clock].get(key)
            if queued is None or moment < queued:
                heapq.heappush(self._heaps[clock], (moment, key))
                self._queued[clock][key] = moment
                self._entries += 1
        self._compact_if_stale()

    def discard(self, key: str) -> None:
        self._current.pop(key, None)  # its queued entries are skipped when they surface

    def due(self, times: StreamTimes) -> list[str]:
        """Keys with a deadline the streams have reached, earliest first; each is taken out
        of the index (the caller sets its next deadlines after deciding)."""
        found: dict[str, datetime] = {}
        for clock, heap in self._heaps.items():
            now = times.on(clock)
            if now is None:
                continue
            queued = self._queued[clock]
            while heap and heap[0][0] <= now:
                moment, key = heapq.heappop(heap)
                self._entries -= 1
                if queued.get(key) != moment:
                    continue  # stale: an earlier entry replaced it
                del queued[key]
                current = self._current.get(key)
                deadline = current.get(clock) if current is not None else None
                if current is None or deadline is None:
                    continue  # the deadline was dropped since
                if deadline > now:  # moved later since it was queued: queue it there
                    heapq.heappush(heap, (deadline, key))
                    queued[key] = deadline
                    self._entries += 1
                    continue
                del current[clock]
                if not current:
                    del self._current[key]
                found[key] = min(found.get(key, deadline), deadline)
        return sorted(found, key=lambda key: (found[key], key))

    def _compact_if_stale(self) -> None:
        """Amortised O(1): a rebuild costs O(pending) and happens only after as many stale pushes."""
        live = sum(len(queued) for queued in self._queued.values())  # three dicts: O(1)
        if self._entries <= 2 * live + COMPACT_SLACK:
            return
        for clock in self._heaps:
            self._queued[clock] = {key: deadlines[clock] for key, deadlines in self._current.items() if clock in deadlines}
            self._heaps[clock] = [(moment, key) for key, moment in self._queued[clock].items()]
            heapq.heapify(self._heaps[clock])
        self._entries = sum(len(heap) for heap in self._heaps.values())
