"""The Faust app: one agent over both input topics, a thin shell around the processor.

Inputs are consumed as raw bytes so that decoding happens inside the core, where an
undecodable or schema-broken message becomes a quarantine record instead of an exception
in Faust's deserializer. One agent reads both co-partitioned topics, so everything about a
policy passes through one place.

State belongs to partitions, as in Kafka Streams: the worker keeps one
:class:`~streams.core.task.PartitionTask` per input partition it owns, recovered from that
partition of the changelog topic when the partition is assigned and dropped when it is
revoked, so no timer or write ever touches a partition another worker now owns.

Per batch: the processor turns every record into outputs (it never raises); the outputs
are sent and acknowledged; then the state that marks them done is written and
acknowledged; only then does the agent take the next batch, which is when Faust acks (and
later commits) the batch's offsets. A crash in between re-delivers the batch: the same
records with the same deterministic ids, never a lost one. A defect in this shell itself
stops the process at once with exit status 70, before the offsets of the failed batch can
be acknowledged: never alive and silent.

Throughput notes: the leader topic is disabled (its empty fetch stalls the input topics),
events are taken in batches and outputs go straight to the producer rather than through
``Topic.send``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import TopicPartition

from streams import metrics
from streams.changelog import changelog_topic, read_partitions
from streams.clock import utc_now
from streams.core.detection import DetectionConfig, StateVersionError
from streams.core.origin import Origin, Stream
from streams.core.outputs import Output, OutputKind
from streams.core.processor import Emission, InputRecord, Processor
from streams.core.ruleset import RuleSet
from streams.core.task import PartitionTask, freeze_restored
from streams.cross_runner import CrossPolicyRunner
from streams.health import Health
from streams.idle import IdleClocks
from streams.local_state import RocksBacking, open_partition_store
from streams.settings import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_WITHIN_S = 0.02
HOLD_RECOUNT_S = 60.0
YIELD_EVERY = 32
"""Events judged between two returns to the event loop inside a batch: a 500-event batch at
about a millisecond each would otherwise hold heartbeats, fetches and /metrics for half a
second."""
EXIT_SHELL_DEFECT = 70
EXIT_STATE_FORMAT = 78


def output_topics(settings: Settings) -> dict[OutputKind, str]:
    return {
        OutputKind.POLICY_CLEAN: settings.topic_policy_clean,
        OutputKind.ENDORSEMENT_CLEAN: settings.topic_endorsement_clean,
        OutputKind.QUARANTINE: settings.topic_quarantine,
        OutputKind.ALERTS: settings.topic_alerts,
        OutputKind.COMMISSION: settings.topic_commission,
    }


def stop_now(code: int, message: str, *args: object) -> None:
    """Leave without running any cleanup that could acknowledge the batch in hand."""
    log.critical(message, *args)
    metrics.WORKER_CRASHES.inc()
    logging.shutdown()
    os._exit(code)


def build_app(
    settings: Settings,
    ruleset: RuleSet,
    *,
    detection: DetectionConfig | None = None,
    partitions: int | None = None,
    clock: Callable[[], datetime] = utc_now,
    health: Health | None = None,
    cross: CrossPolicyRunner | None = None,
) -> faust.App:
    """``partitions``: the input topics' partition count; ``health`` hears the loop's beats and
    whether the owned partitions are recovered; ``cross``: the cross-policy stage and its store
    (None: those checks are off)."""
    health = health or Health(stale_after_s=float("inf"))
    if not settings.kafka_bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
    bootstrap = settings.kafka_bootstrap_servers
    session, heartbeat, rebalance = settings.group_timeouts()
    brokers = [f"kafka://{server.strip()}" for server in bootstrap.split(",")]
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_session_timeout=session,
        broker_heartbeat_interval=heartbeat,
        broker_rebalance_timeout=rebalance,
        consumer_auto_offset_reset=settings.offset_reset,
        topic_disable_leader=True,
        topic_partitions=partitions or settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        web_enabled=False,
        datadir=settings.data_dir,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        producer_max_batch_size=1_048_576,
        producer_max_request_size=max(4_194_304, settings.max_message_bytes + 65_536),
    )
    inputs = app.topic(
        *settings.input_topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    stream_of_topic = {settings.topic_policy_events: Stream.POLICY, settings.topic_endorsement_events: Stream.ENDORSEMENT}
    destinations = output_topics(settings)
    state_topic = changelog_topic(settings.app_id)
    processor = Processor(ruleset, detection or settings.detection, max_message_bytes=settings.max_message_bytes,
                          cross=cross.stage if cross is not None else None)
    tasks: dict[int, PartitionTask] = {}
    clocks = IdleClocks(settings.idle_after_s, STALL_FACTOR * settings.timer_interval_s + STALL_SLACK_S)
    lock = asyncio.Lock()  # the agent, the timer and a revoke never interleave on the tasks

    def owned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == settings.topic_policy_events}

    stores: dict[int, RocksBacking] = {}

    def drop(partitions_lost: Iterable[int]) -> None:
        for partition in partitions_lost:
            if tasks.pop(partition, None) is not None:
                log.info("partition %d revoked: its state is left on local disk for its next assignment", partition)
            store = stores.pop(partition, None)
            if store is not None:
                store.close()
            for stream in Stream:
                clocks.forget((stream, partition))

    async def reconcile() -> None:
        """Tasks follow the assignment: forget lost partitions, recover new ones."""
        mine = owned()
        lost = set(tasks) - mine
        drop(lost)
        new = mine - set(tasks)
        if lost:
            restart_idle_clocks()  # a rebalance: idleness starts over
        if not new:
            return
        for partition in new:
            if partition not in stores:
                stores[partition] = open_partition_store(settings.data_dir, settings.app_id, partition)
        checkpoints = {partition: stores[partition].checkpoint() for partition in new}
        recovered = await read_partitions(bootstrap, state_topic, new, start=checkpoints)
        stale = [p for p, tail in recovered.items() if checkpoints[p] is not None and tail.last_offset is not None
                 and tail.last_offset <= checkpoints[p]]  # type: ignore[operator]
        if stale:
            # The changelog is not the one the local store was built from (a new topic): rebuild.
            log.warning("local state of partitions %s is ahead of the changelog: read again in full", stale)
            for partition in stale:
                stores[partition].clear()
            recovered.update(await read_partitions(bootstrap, state_topic, stale))
        for partition, tail in recovered.items():
            try:
                tasks[partition] = processor.restore_task(partition, tail.records, backing=stores[partition],
                                                          cache_size=settings.state_cache_size)
                if tail.last_offset is not None:
                    tasks[partition].checkpoint(tail.last_offset)
            except StateVersionError as exc:
                stop_now(EXIT_STATE_FORMAT, "cannot read the state of partition %d in %s: %s. Run the release "
                         "that wrote it, or start with a new POLICYGUARD_APP_ID.", partition, state_topic, exc)
            started = time.monotonic()
            for stream in Stream:
                clocks.start((stream, partition), started)
        restart_idle_clocks()
        freeze_restored()
        recount_holds()

    def recount_holds() -> None:
        """Re-anchor the gauge on the holds in the partitions this worker owns now."""
        metrics.set_holds_open(dict(Counter(channel for task in tasks.values() for channel in task.holds.values())))

    topic_of_stream = {stream: topic for topic, stream in stream_of_topic.items()}

    def restart_idle_clocks() -> None:
        """A rebalance or a stall: no topic partition is idle, and its idle time starts over."""
        clocks.restart(time.monotonic())
        for task in tasks.values():
            task.idle = frozenset()

    async def mark_idle(task: PartitionTask) -> None:
        """Which of the partition's topics are idle (streams.idle): caught up and quiet."""
        now = time.monotonic()
        idle = set()
        for stream in Stream:
            position = (stream, task.partition)
            tp = TopicPartition(topic_of_stream[stream], task.partition)
            end = _highwater(app, tp)
            fetched = await _position(app, tp) if position not in clocks.consumed and end is not None else None
            if clocks.idle(position, end, fetched, now):
                idle.add(stream)
        task.idle = frozenset(idle)

    async def send(outputs: list[Output]) -> None:
        futures = [
            await app.producer.send(
                destinations[output.kind],
                output.key.encode("utf-8", errors="backslashreplace") if output.key is not None else None,
                output.value, None, None, list(output.headers),
            )
            for output in outputs
        ]
        await asyncio.gather(*futures)

    async def persist(partitions_touched: Iterable[int]) -> None:
        """The batch's state to the changelog; once acknowledged, the local store's checkpoint
        moves to the last record written."""
        sent: list[tuple[PartitionTask, list[Any]]] = []
        for partition in partitions_touched:
            task = tasks.get(partition)
            if task is None:
                continue
            futures = [await app.producer.send(state_topic, key.encode(), blob, partition, None, None)
                       for key, blob in task.take_dirty().items()]
            sent.append((task, futures))
        for task, futures in sent:
            acknowledged = await asyncio.gather(*futures)
            if acknowledged:
                task.checkpoint(max(metadata.offset for metadata in acknowledged))

    async def deliver(emission: Emission, partitions_touched: Iterable[int]) -> None:
        if cross is not None and (emission.observations or cross.pending):
            # Claimed before they are sent: a crash from here re-delivers the batch, and its
            # events, owning their claims, emit the same alerts again.
            emission.extend(Emission.of_alerts(await cross.run(emission.observations, clock())))
        await send(emission.outputs)  # outputs first …
        await persist(partitions_touched)  # … then the state that marks them done
        metrics.observe_emission(emission, clock())

    # Faust's signal stub does not admit a coroutine receiver taking **kwargs; Faust calls it so.
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[TopicPartition], **_: object) -> None:
        health.unready("rebalancing: partitions revoked, waiting for the new assignment")
        metrics.forget_partitions((tp.topic, tp.partition) for tp in revoked)
        async with lock:
            drop({tp.partition for tp in revoked if tp.topic == settings.topic_policy_events})

    @app.agent(inputs, name="validate")
    async def validate(records: faust.StreamT[bytes]) -> None:
        # take_events is Stream's (the class Faust passes), missing from the StreamT protocol.
        async for batch in records.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):  # type: ignore[attr-defined]
            try:
                async with lock:
                    await reconcile()
                    emission = Emission()
                    touched: set[int] = set()
                    positions: dict[tuple[str, int], int] = {}
                    for number, event in enumerate(batch, start=1):
                        if number % YIELD_EVERY == 0:
                            await asyncio.sleep(0)  # the lock keeps timers and revokes out meanwhile
                        message = event.message
                        task = tasks.get(message.partition)
                        if task is None:
                            continue  # revoked meanwhile: its new owner reads it again
                        stream = stream_of_topic[message.topic]
                        clocks.record((stream, message.partition), message.offset, time.monotonic())
                        task.idle = task.idle - {stream}  # a record came: that topic is not idle
                        record = InputRecord(
                            message.value or b"",  # a tombstone (null value) is judged as empty bytes
                            Origin(topic=message.topic, partition=message.partition, offset=message.offset,
                                   key=message.key, timestamp=_record_time(message.timestamp)),
                            stream,
                        )
                        emitted = processor.process(task, record, clock())
                        metrics.count_duplicates(message.topic, emitted.duplicates)
                        emission.extend(emitted)
                        touched.add(message.partition)
                        positions[(message.topic, message.partition)] = message.offset
                    await deliver(emission, touched)
                    for (topic, partition), offset in positions.items():
                        metrics.set_lag(topic, partition, _highwater(app, TopicPartition(topic, partition)), offset)
            except Exception as exc:  # noqa: BLE001 - the processor never raises: this is the shell's defect
                stop_now(EXIT_SHELL_DEFECT, "worker stopping: the batch could not be delivered (%s: %s); "
                         "its offsets are not committed and it will be read again", type(exc).__name__, exc)

    last_recount = time.monotonic()

    @app.timer(interval=settings.timer_interval_s)
    async def sweep() -> None:
        """Held edits, overdue holds and retention, as stream time (or an idle topic's wall
        clock) reaches them: O(what is due)."""
        nonlocal last_recount
        health.beat()
        stalled = clocks.sweep(time.monotonic())
        if stalled is not None:
            log.warning("worker did not run for %.1f s: the topics' idle time starts over", stalled)
            restart_idle_clocks()
        if app.rebalancing:
            restart_idle_clocks()
            return
        try:
            async with lock:
                await reconcile()
                health.ready()
                emission = Emission()
                for task in tasks.values():
                    await mark_idle(task)
                    emission.extend(processor.punctuate(task, clock()))
                await deliver(emission, list(tasks))
                if time.monotonic() - last_recount >= HOLD_RECOUNT_S:
                    last_recount = time.monotonic()
                    recount_holds()
        except Exception as exc:  # noqa: BLE001 - as in the agent
            stop_now(EXIT_SHELL_DEFECT, "worker stopping: timed decisions could not be delivered (%s: %s)",
                     type(exc).__name__, exc)

    return app


STALL_FACTOR = 3
STALL_SLACK_S = 2.0
"""A gap between two sweeps longer than this many intervals plus the slack is a stall."""


def _record_time(seconds: float | None) -> datetime | None:
    """A Kafka record's timestamp (Faust gives seconds; none or not set: None)."""
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


async def _position(app: faust.App, tp: TopicPartition) -> int | None:
    try:
        position = await app.consumer.position(tp)
    except Exception:  # noqa: BLE001 - unknown means not caught up, never a stopped worker
        return None
    return position if isinstance(position, int) else None


def _highwater(app: faust.App, tp: TopicPartition) -> int | None:
    try:
        return app.consumer.highwater(tp)
    except Exception:  # noqa: BLE001 - a metric must never stop the stream
        return None
