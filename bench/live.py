"""The broker-side measurements: raw aiokafka loops, the worker, two workers, latency at 1k/s.

The worker's rate is counted on its output topics (never inferred from offsets: tansu
under-reports them), from the first output seen to the moment 95 % of the inputs are routed;
the raw loops time themselves the same way (first batch consumed → 95 % acknowledged), and
are then checked on their output topics. Every loop reads the same input
topics, each with its own consumer group, and writes to topics of its own.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.corpus import CorpusEvent
from streams.changelog import changelog_topic, read_partitions
from streams.core.origin import Origin, Stream
from streams.core.outputs import OutputKind
from streams.core.processor import InputRecord, Processor
from streams.core.ruleset import RuleSet
from streams.embedded.processes import ChildProcess, ProcessGroup
from streams.settings import Settings
from streams.topics import ensure_topics

BATCH = 500


MARK = 0.95
"""Rates are taken to the moment 95 % of the inputs are through: the rest includes edits held
on purpose until the arrival grace has passed (released when the topic goes idle, seconds
later), which measures the grace, not the speed."""


@dataclass(frozen=True, slots=True)
class Counted:
    seen: int
    first: float
    marked: float  # when MARK of the expected inputs were through
    mark: int
    latencies_ms: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return self.mark / max(self.marked - self.first, 1e-9)


def mark_of(expected: int) -> int:
    return max(1, int(expected * MARK))


def run_settings(base: Settings, tag: str, *, inputs: tuple[str, str] | None = None) -> Settings:
    """The base settings with outputs (and optionally inputs) of the run's own."""
    update: dict[str, object] = {
        "app_id": f"policyguard-bench-{tag}",
        "topic_policy_clean": f"bench.{tag}.policy-events.clean",
        "topic_endorsement_clean": f"bench.{tag}.endorsement-events.clean",
        "topic_quarantine": f"bench.{tag}.quarantine",
        "topic_alerts": f"bench.{tag}.alerts",
        "topic_commission": f"bench.{tag}.commission",
    }
    if inputs is not None:
        update["topic_policy_events"], update["topic_endorsement_events"] = inputs
    return base.model_copy(update=update)


def routed_topics(settings: Settings) -> list[str]:
    """Where each input ends exactly once: clean or quarantine."""
    return [settings.topic_policy_clean, settings.topic_endorsement_clean, settings.topic_quarantine]


async def publish(bootstrap: str, settings: Settings, corpus: list[CorpusEvent], *, per_second: float = 0.0) -> None:
    """The corpus onto its two input topics, keyed by policy; paced when ``per_second`` > 0."""
    topics = {Stream.POLICY: settings.topic_policy_events, Stream.ENDORSEMENT: settings.topic_endorsement_events}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0 if per_second else 5,
                                max_batch_size=1_048_576, max_request_size=4_194_304)
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for i, event in enumerate(corpus):
            if per_second:
                delay = started + i / per_second - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(topics[event.stream], event.value, key=event.key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def count(bootstrap: str, topics: list[str], expected: int, timeout_s: float, *,
                latency: bool = False, settle_s: float = 15.0) -> Counted:
    """Read the topics from the start until ``expected`` records are seen, the timeout, or
    ``settle_s`` without a record once the mark is passed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, max_partition_fetch_bytes=4_194_304,
                                auto_offset_reset="earliest")  # never skip ahead past records not yet counted
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        deadline = time.monotonic() + timeout_s
        while not partitions and time.monotonic() < deadline:
            await consumer.topics()
            found = {t: sorted(consumer.partitions_for_topic(t) or ()) for t in topics}
            if all(found.values()):  # every topic created (the worker creates its outputs at start)
                partitions = [TopicPartition(t, p) for t, numbers in found.items() for p in numbers]
            else:
                await asyncio.sleep(0.2)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        first = marked = 0.0
        seen = 0
        latencies: list[float] = []
        progress = time.monotonic()
        while seen < expected and time.monotonic() < deadline:
            if marked and time.monotonic() - progress > settle_s:
                break  # past the mark and quiet: what is left is held, not slow
            for messages in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                if messages:
                    now = progress = time.monotonic()
                    first = first or now
                    seen += len(messages)
                    if not marked and seen >= mark_of(expected):
                        marked = now
                    if latency:
                        wall_ms = time.time() * 1000
                        latencies += [wall_ms - m.timestamp for m in messages]
        return Counted(seen, first, marked, mark_of(expected), tuple(latencies))
    finally:
        await consumer.stop()


async def _loop(bootstrap: str, settings: Settings, group: str, expected: int,
                handle: Callable[[list, AIOKafkaProducer], Awaitable[None]]) -> Counted:
    """From the first batch consumed to the batch that takes the count past the mark."""
    session, heartbeat, rebalance = settings.group_timeouts()  # the worker's; tansu joins slowly on defaults
    consumer = AIOKafkaConsumer(*settings.input_topics, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4_194_304, session_timeout_ms=int(session * 1000),
                                heartbeat_interval_ms=int(heartbeat * 1000), rebalance_timeout_ms=int(rebalance * 1000))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1_048_576,
                                max_request_size=4_194_304)
    await consumer.start()
    await producer.start()
    moved = 0
    first = marked = 0.0
    try:
        while moved < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            messages = [m for part in batches.values() for m in part]
            if messages:
                first = first or time.monotonic()
                await handle(messages, producer)
                await consumer.commit()
                moved += len(messages)
                if not marked and moved >= mark_of(expected):
                    marked = time.monotonic()
        return Counted(moved, first, marked, mark_of(expected))
    finally:
        await consumer.stop()
        await producer.stop()


async def passthrough(bootstrap: str, settings: Settings, expected: int) -> Counted:
    """Consume → send the same bytes → wait for the acks → commit: the Python ceiling here."""
    async def handle(messages: list, producer: AIOKafkaProducer) -> None:
        futures = [await producer.send(settings.topic_quarantine, m.value, key=m.key) for m in messages]
        await asyncio.gather(*futures)

    return await _loop(bootstrap, settings, f"{settings.app_id}-passthrough", expected, handle)


async def raw_core(bootstrap: str, settings: Settings, expected: int) -> Counted:
    """The same processor the worker runs, in a plain aiokafka batch loop: outputs acked, then
    the state changelog acked, then offsets committed, as the worker does."""
    processor = Processor(RuleSet.default(), settings.detection, max_message_bytes=settings.max_message_bytes)
    tasks = {}
    destinations = {
        OutputKind.POLICY_CLEAN: settings.topic_policy_clean, OutputKind.ENDORSEMENT_CLEAN: settings.topic_endorsement_clean,
        OutputKind.QUARANTINE: settings.topic_quarantine, OutputKind.ALERTS: settings.topic_alerts,
        OutputKind.COMMISSION: settings.topic_commission,
    }
    streams = {settings.topic_policy_events: Stream.POLICY, settings.topic_endorsement_events: Stream.ENDORSEMENT}
    changelog = changelog_topic(settings.app_id)  # created by ensure_topics, as the worker's

    async def handle(messages: list, producer: AIOKafkaProducer) -> None:
        outputs = []
        touched = set()
        for m in messages:
            task = tasks.setdefault(m.partition, processor.new_task(m.partition))
            record = InputRecord(m.value or b"", Origin(topic=m.topic, partition=m.partition, offset=m.offset,
                                                        key=m.key), streams[m.topic])
            outputs += processor.process(task, record, datetime.now(UTC)).outputs
            touched.add(m.partition)
        futures = [await producer.send(destinations[o.kind], o.value, key=o.key.encode() if o.key else None,
                                       headers=list(o.headers)) for o in outputs]
        await asyncio.gather(*futures)
        futures = [await producer.send(changelog, blob, key=key.encode(), partition=p)
                   for p in touched for key, blob in tasks[p].take_dirty().items()]
        await asyncio.gather(*futures)

    return await _loop(bootstrap, settings, f"{settings.app_id}-raw-core", expected, handle)


async def measure_loop(bootstrap: str, settings: Settings, expected: int,
                       loop: Callable[[str, Settings, int], Awaitable[Counted]], topics: list[str]) -> Counted:
    """The loop's own timing, after checking on its topics that it really routed the inputs (a
    plain loop has no idle timer: edits held for the grace stay held)."""
    await ensure_topics(settings)
    timed = await asyncio.wait_for(loop(bootstrap, settings, expected), 600)
    routed = await count(bootstrap, topics, mark_of(expected), 120)
    if routed.seen < mark_of(expected):
        raise RuntimeError(f"the loop routed {routed.seen} of {expected} inputs")
    return timed


async def changelog_read_s(bootstrap: str, settings: Settings, records: dict[bytes, bytes]) -> float:
    """Seconds for a restart to read ``records`` back from one changelog partition, as the
    worker does (up to a marker it appends first)."""
    await ensure_topics(settings)
    topic = changelog_topic(settings.app_id)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1_048_576,
                                max_request_size=4_194_304)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, partition=0) for key, value in records.items()]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    started = time.monotonic()
    recovered = await read_partitions(bootstrap, topic, [0])
    elapsed = time.monotonic() - started
    if len(recovered[0].records) != len(records):
        raise RuntimeError(f"read back {len(recovered[0].records)} of {len(records)} state records")
    return elapsed


def start_worker(group: ProcessGroup, settings: Settings, workdir: Path, name: str) -> ChildProcess:
    asyncio.run(ensure_topics(settings))  # its outputs exist before anyone counts on them
    env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}
    return group.add(ChildProcess(name, [sys.executable, "-m", "streams.cli.main", "worker"],
                                  workdir / f"{name}.log", env).start())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pid: int, seconds: float = 5.0) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 100


def percentile(values: tuple[float, ...] | list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def p99(values: tuple[float, ...] | list[float]) -> float:
    return percentile(values, 0.99)


def histogram_p99_ms(metrics_text: str, name: str) -> float:
    """The upper bound of the bucket holding the 99th percentile of a Prometheus histogram."""
    buckets: list[tuple[float, float]] = []
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    return next(bound for bound, cumulative in sorted(buckets) if cumulative >= 0.99 * total) * 1000
