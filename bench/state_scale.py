"""State at scale, without a broker: bytes per policy, restoring a partition, and the longest
time the event loop would be held (the worker's YIELD_EVERY events and what they made due)
while events arrive with that many policies in state.

States are the corpus's own final states, cloned under new policy numbers, so they carry
what a real policy carries (slots, endorsements, ledger, seen event ids, deadlines).
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench.corpus import CorpusEvent
from streams.app import YIELD_EVERY
from streams.core.origin import Origin
from streams.core.processor import InputRecord, Processor
from streams.core.ruleset import RuleSet
from streams.core.task import freeze_restored


@dataclass(frozen=True, slots=True)
class StateScale:
    policies: int
    blob_bytes_per_policy: float
    memory_bytes_per_policy: float
    restore_s: float
    max_stall_ms: float
    max_gc_pause_ms: float
    events_during_stall_test: int


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def corpus_states(corpus: list[CorpusEvent], now: datetime) -> dict[str, bytes]:
    processor = Processor(RuleSet.default())
    task = processor.new_task()
    for event in corpus:
        processor.process(task, InputRecord(event.value, Origin(file="corpus", line=1)), now)
    return {key: blob for key in task.states if (blob := task.blob_of(key)) is not None}  # as in the changelog


def cloned(templates: dict[str, bytes], n: int) -> dict[bytes, bytes]:
    """``n`` changelog records: the templates under fresh policy numbers."""
    items = list(templates.items())
    records: dict[bytes, bytes] = {}
    for i in range(n):
        policy_no, blob = items[i % len(items)]
        fresh = f"{policy_no}-{i // len(items)}"
        records[fresh.encode()] = blob.replace(policy_no.encode(), fresh.encode())
    return records


def measure(templates: dict[str, bytes], corpus: list[CorpusEvent], policies: int, now: datetime,
            probe_events: int = 5_000) -> StateScale:
    processor = Processor(RuleSet.default())
    gc.collect()
    before = rss_bytes()
    records = cloned(templates, policies)
    blob_bytes = sum(map(len, records.values())) / len(records)
    started = time.perf_counter()
    task = processor.restore_task(0, records)
    freeze_restored()  # as the worker does after recovering its partitions
    restore_s = time.perf_counter() - started
    del records  # what is left is what the task holds: stored values, index, holds
    gc.collect()
    memory = (rss_bytes() - before) / policies

    pauses: list[float] = []
    gc_started = 0.0

    def on_gc(phase: str, _info: dict) -> None:
        nonlocal gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - gc_started)

    gc.callbacks.append(on_gc)
    worst = 0.0
    try:
        clock = now
        probe = corpus[:probe_events]
        for start in range(0, len(probe), YIELD_EVERY):  # the worker returns to its loop this often
            t0 = time.perf_counter()
            for i, event in enumerate(probe[start:start + YIELD_EVERY], start=start):
                clock += timedelta(milliseconds=100)
                value = event.value.replace(b'"P', b'"Q', 1) if i % 2 else event.value  # new and known policies
                processor.process(task, InputRecord(value, Origin(file="probe", line=i)), clock)
            worst = max(worst, time.perf_counter() - t0)
    finally:
        gc.callbacks.remove(on_gc)
    return StateScale(policies, blob_bytes, memory, restore_s, worst * 1000, max(pauses, default=0.0) * 1000,
                      min(probe_events, len(corpus)))
