"""What the cross-policy stage costs per event, beside the rest of the core.

The corpus is judged once (not timed); then, in 500-event batches as the worker takes them,
the stage observes each policy event (keyed hashes), builds the batch's request, has the store
execute it, runs the detectors and claims what they found. Measured on the in-process store
(replay's) and on a real redis-server (the worker's: one Lua script call per batch, plus one
claim call when a batch found something).
"""
from __future__ import annotations

import asyncio
import gc
import time
from datetime import datetime
from pathlib import Path

from bench.corpus import CorpusEvent
from streams.core.crosspolicy import DEV_SECRET, CrossPolicyStage, CrossStore, MemoryStore
from streams.core.origin import Origin
from streams.core.pipeline import Verdict, process_record
from streams.core.ruleset import RuleSet
from streams.embedded.processes import ProcessGroup
from streams.embedded.redis_server import start_redis
from streams.redis_store import RedisStore

BATCH = 500


def verdicts(corpus: list[CorpusEvent], now: datetime) -> list[Verdict]:
    ruleset = RuleSet.default()
    return [process_record(event.value, Origin(topic="bench"), now=now, ruleset=ruleset, stream=event.stream)
            for event in corpus]


async def _run(stage: CrossPolicyStage, store: CrossStore, judged: list[Verdict], now: datetime) -> tuple[float, int]:
    started = time.perf_counter()
    alerts = 0
    for start in range(0, len(judged), BATCH):
        observations = [o for o in map(stage.observe, judged[start:start + BATCH]) if o is not None]
        view = await store.exchange(stage.request(observations))
        candidates = stage.detect(observations, view, now)
        alerts += len(await store.claim([candidate.claim for candidate in candidates]))
    return time.perf_counter() - started, alerts


def measure(corpus: list[CorpusEvent], now: datetime, workdir: Path) -> dict[str, float]:
    """µs per input event of the stage, on each store (the best of two runs, fresh stores)."""
    judged = verdicts(corpus, now)
    # The judged corpus stays alive for the whole measurement (a worker's batch does not): out of
    # the collector's view, so full collections scanning it do not count as the stage's cost.
    gc.collect()
    gc.freeze()
    results: dict[str, float] = {}

    def best(make: type[CrossStore] | object) -> tuple[float, int]:
        runs = []
        for _ in range(2):
            store = make()  # type: ignore[operator]
            runs.append(asyncio.run(_with(store)))
        return min(runs)

    async def _with(store: CrossStore) -> tuple[float, int]:
        try:
            return await _run(CrossPolicyStage.default(DEV_SECRET), store, judged, now)
        finally:
            await store.close()

    seconds, alerts = best(MemoryStore)
    results["cross_policy_us_per_event_in_process"] = seconds / len(corpus) * 1e6
    with ProcessGroup() as group:
        url = start_redis(group, workdir / "redis")
        prefixes = iter(range(100))
        seconds, _ = best(lambda: RedisStore.from_url(url, MemoryStore().config, prefix=f"bench{next(prefixes)}"))
    results["cross_policy_us_per_event_redis"] = seconds / len(corpus) * 1e6
    results["cross_policy_alerts"] = float(alerts)
    gc.unfreeze()
    return results
