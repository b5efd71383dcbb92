"""The Faust app: one agent over both input topics, a thin shell around the core.

Inputs are consumed as raw bytes so that decoding happens inside the core, where an
undecodable or schema-broken message becomes a quarantine record instead of an exception
in Faust's deserializer. One agent reads both co-partitioned topics, so everything about a
policy passes through one place in arrival order.

Per-policy detection state lives in a Faust table (changelog topic
``<app_id>-policy-state-changelog``), keyed by policy_no; a second table holds each policy's
next deadline so the timer only visits policies with something due. A batch's state is
queued behind its outputs and flushed before the next batch, so a crash can repeat the
outputs of the batch in flight (same records, same deterministic ids) but never lose one;
the state's memory of event ids makes an event re-delivered after that produce nothing.

Throughput notes (see FAUST_THROUGHPUT.md): the leader topic is disabled (its empty fetch
stalls the input topics), events are taken in batches and outputs go straight to the
producer rather than through ``Topic.send``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

import faust
from aiokafka import TopicPartition

from streams import metrics
from streams.clock import utc_now
from streams.core.detection import DetectionConfig, PolicyMachine, PolicyState, Step
from streams.core.origin import Origin, Stream
from streams.core.outputs import Output, OutputKind
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet
from streams.changelog_catchup import catch_up
from streams.settings import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_WITHIN_S = 0.02
HOLD_RECOUNT_S = 60.0
RETENTION_SWEEP_S = 3600.0


def output_topics(settings: Settings) -> dict[OutputKind, str]:
    return {
        OutputKind.POLICY_CLEAN: settings.topic_policy_clean,
        OutputKind.ENDORSEMENT_CLEAN: settings.topic_endorsement_clean,
        OutputKind.QUARANTINE: settings.topic_quarantine,
        OutputKind.ALERTS: settings.topic_alerts,
        OutputKind.COMMISSION: settings.topic_commission,
    }


def build_app(
    settings: Settings,
    ruleset: RuleSet,
    *,
    detection: DetectionConfig | None = None,
    partitions: int | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> faust.App:
    """``partitions``: the input topics' partition count, which the state tables must match."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
    session, heartbeat, rebalance = settings.group_timeouts()
    brokers = [f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")]
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
        table_standby_replicas=0,
        web_enabled=False,
        datadir=settings.data_dir,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        producer_max_batch_size=1_048_576,
        producer_max_request_size=4_194_304,
    )
    inputs = app.topic(
        *settings.input_topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    table_options = dict(
        default=None, key_type=bytes, value_type=bytes,
        use_partitioner=True, partitions=partitions or settings.topic_partitions,
    )
    states = app.Table("policy-state", help="detection state per policy_no", **table_options)
    deadlines = app.Table("policy-deadlines", help="next timer deadline per policy_no", **table_options)
    stream_of_topic = {settings.topic_policy_events: Stream.POLICY, settings.topic_endorsement_events: Stream.ENDORSEMENT}
    destinations = output_topics(settings)
    machine = PolicyMachine(detection or settings.detection())
    state_lock = asyncio.Lock()  # the agent and the timer must not interleave on one policy

    def load(key: bytes) -> PolicyState | None:
        raw = states.data.get(key)
        return PolicyState.from_json(raw) if raw else None

    changelog_writes: list[asyncio.Future] = []

    async def write(table: faust.Table, key: bytes, value: bytes | None) -> None:
        """Set the table's local store and send its changelog record ourselves.

        ``table[key] = value`` would queue the record in Faust's producer buffer, which sends
        one message per loop iteration and made the changelog the worker's bottleneck
        (~0.8k events/s). The record is the same (same topic, key, value, and partition
        from the default partitioner, as ``use_partitioner=True`` has it), so Faust's
        recovery reads it as its own.
        """
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
        topic = table.changelog_topic.get_topic_name()
        changelog_writes.append(await app.producer.send(topic, key, value, None, None, None))

    async def persist(key: bytes, state: PolicyState | None) -> None:
        """Write the state; touch the deadline index only when the deadline moves (it rarely does)."""
        await write(states, key, state.to_json() if state is not None else None)
        deadline = machine.next_deadline(state) if state is not None else None
        stored = deadlines.data.get(key)
        wanted = deadline.isoformat().encode() if deadline is not None else None
        if wanted != stored:
            await write(deadlines, key, wanted)

    async def send(outputs: list[Output]) -> list[asyncio.Future]:
        return [
            await app.producer.send(
                destinations[output.kind],
                output.key.encode() if output.key is not None else None,
                output.value,
                None,
                None,
                list(output.headers),
            )
            for output in outputs
        ]

    async def flush_state() -> None:
        written = changelog_writes[:]
        changelog_writes.clear()
        await asyncio.gather(*written)

    caught_up: set[TopicPartition] = set()

    async def finish_recovery() -> None:
        """After each assignment, read what Faust's recovery may have missed (tansu)."""
        stores = {table.changelog_topic.get_topic_name(): table.data for table in (states, deadlines)}
        assigned = {tp for tp in app.consumer.assignment() if tp.topic in stores}
        new = assigned - caught_up
        if new:
            await catch_up(settings.kafka_bootstrap_servers or "", [TopicPartition(tp.topic, tp.partition) for tp in new],
                           stores)
        caught_up.intersection_update(assigned)
        caught_up.update(new)

    @app.agent(inputs, name="validate")
    async def validate(records: faust.StreamT[bytes]) -> None:
        async for batch in records.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            async with state_lock:
                await finish_recovery()
                touched: dict[bytes, PolicyState | None] = {}
                pending: list[asyncio.Future] = []
                positions: dict[object, tuple[str, int, int]] = {}
                for event in batch:
                    message = event.message
                    positions[message.tp] = (message.topic, message.partition, message.offset)
                    started = time.perf_counter()
                    now = clock()
                    verdict = process_record(
                        message.value or b"",  # a tombstone (null value) is judged as empty bytes
                        Origin(topic=message.topic, partition=message.partition, offset=message.offset,
                               key=message.key),
                        now=now,
                        ruleset=ruleset,
                        stream=stream_of_topic[message.topic],
                    )
                    key = verdict.event.policy_no.encode() if verdict.event is not None else None
                    state = (touched[key] if key in touched else load(key)) if key is not None else None
                    step = machine.on_verdict(state, verdict, now)
                    if key is not None:
                        touched[key] = step.state
                    pending += await send(step.outputs)
                    metrics.observe_verdict(verdict, time.perf_counter() - started, now)
                    metrics.observe_step(step, message.topic)
                # The state goes out after the outputs (queued behind them, so it can never be
                # durable while they are not) and is flushed before the next batch: a re-delivery
                # then finds these events "seen".
                for key, state in touched.items():
                    await persist(key, state)
                await asyncio.gather(*pending)
                await flush_state()
                for tp, (topic, partition, offset) in positions.items():
                    metrics.set_lag(topic, partition, _highwater(app, tp), offset)

    last_recount = 0.0
    last_retention = time.monotonic()

    @app.timer(interval=settings.timer_interval_s)
    async def sweep() -> None:
        nonlocal last_recount, last_retention
        if app.in_recovery or app.rebalancing:
            return
        async with state_lock:
            await finish_recovery()
            now = clock()
            due = [
                key for key, raw in list(deadlines.data.items()) if raw and datetime.fromisoformat(raw.decode()) <= now
            ]
            for key in due:  # held edits past their grace, holds past their deadline
                state = load(key)
                step = machine.tick(state, now) if state is not None else Step(None)
                sent = await send(step.outputs)
                await persist(key, step.state)
                await asyncio.gather(*sent)
                metrics.observe_step(step)
            if time.monotonic() - last_recount >= HOLD_RECOUNT_S:
                last_recount = time.monotonic()
                metrics.set_holds_open(_holds_by_channel(states.data.values()))
            if time.monotonic() - last_retention >= RETENTION_SWEEP_S:
                last_retention = time.monotonic()
                for key, raw in list(states.data.items()):
                    state = PolicyState.from_json(raw) if raw else None
                    if state is not None and machine.forgettable(state, now):
                        await persist(key, None)
            if changelog_writes:
                await flush_state()

    return app


def _highwater(app: faust.App, tp: object) -> int | None:
    try:
        return app.consumer.highwater(tp)
    except Exception:  # noqa: BLE001 - a metric must never stop the stream
        return None


def _holds_by_channel(values: Iterable[bytes | None]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for raw in values:
        if raw and b'"hold"' in raw:
            hold = json.loads(raw).get("hold")
            if hold:
                counts[hold.get("channel") or "UNKNOWN"] += 1
    return dict(counts)
