"""Policies in force on local disk: bytes per policy, memory, restart time, at millions of policies.

Writes ``--policies`` states (the corpus's own final states cloned under new policy numbers, as
``bench.state_scale`` does) into a RocksDB partition store the way a worker does (changelog
records applied with their derived index entries), then measures what a worker restarting on
that store pays: the time to serve again (open the store, scan the deadline index and held
edits), the memory it holds then and after serving events on known and new policies with the
default cache of parsed states, and the bytes on disk per policy.

    python -m bench.disk_state --policies 10000000

Prints one JSON object; the numbers in docs/performance.md come from it.
"""
from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.corpus import generate
from bench.state_scale import corpus_states, rss_bytes
from streams.core.origin import Origin
from streams.core.processor import InputRecord, Processor
from streams.core.ruleset import RuleSet
from streams.core.task import PartitionTask, apply_changelog
from streams.local_state import RocksBacking
from streams.settings import Settings

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CHUNK = 100_000


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def fill(store: RocksBacking, templates: dict[str, bytes], policies: int, processor: Processor) -> float:
    """Write ``policies`` cloned states in chunks; returns seconds."""
    items = list(templates.items())
    started = time.perf_counter()
    for first in range(0, policies, CHUNK):
        records: dict[bytes, bytes | None] = {}
        for i in range(first, min(first + CHUNK, policies)):
            policy_no, blob = items[i % len(items)]
            fresh = f"{policy_no}-{i // len(items)}"
            records[fresh.encode()] = blob.replace(policy_no.encode(), fresh.encode())
        apply_changelog(store, records, processor.machine)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=1_000_000)
    parser.add_argument("--corpus-events", type=int, default=20_000)
    parser.add_argument("--probe-events", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the store (default: a temp dir)")
    args = parser.parse_args()

    processor = Processor(RuleSet.default())
    corpus = generate(args.corpus_events)
    templates = corpus_states(corpus, NOW)
    cache_size = Settings.model_fields["state_cache_size"].default
    workdir = Path(tempfile.mkdtemp(prefix="pg-disk-", dir=args.dir))
    try:
        store = RocksBacking(workdir / "p0")
        fill_s = fill(store, templates, args.policies, processor)
        store.close()
        disk = directory_bytes(workdir / "p0")

        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        store = RocksBacking(workdir / "p0")
        task = PartitionTask.from_backing(processor.machine, 0, store, cache_size=cache_size,
                                          lateness_s=processor.machine.config.max_lateness_s)
        restart_s = time.perf_counter() - started
        after_restart = rss_bytes() - before

        clock = NOW
        started = time.perf_counter()
        for i, event in enumerate(corpus[: args.probe_events]):
            clock += timedelta(milliseconds=100)
            value = event.value.replace(b'"P', b'"Q', 1) if i % 2 else event.value  # new and known policies
            processor.process(task, InputRecord(value, Origin(file="probe", line=i)), clock)
            if i % 1_000 == 999:
                task.take_dirty()
        serve_s = time.perf_counter() - started
        task.take_dirty()
        after_serving = rss_bytes() - before
        result = {
            "policies": args.policies,
            "template_states": len(templates),
            "json_bytes_per_policy": sum(map(len, templates.values())) / len(templates),
            "disk_bytes_per_policy": disk / args.policies,
            "disk_bytes_total": disk,
            "fill_s": fill_s,
            "restart_s": restart_s,
            "indexed_policies_at_restart": len(task.index),
            "memory_after_restart_bytes": after_restart,
            "memory_after_serving_bytes": after_serving,
            "parsed_states_after_serving": task.states.parsed,
            "state_cache_size": cache_size,
            "serve_events": min(args.probe_events, len(corpus)),
            "serve_events_per_s": min(args.probe_events, len(corpus)) / serve_s,
        }
        store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
