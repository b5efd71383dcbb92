"""The Faust app: one agent over both input topics, a thin shell around the core.

Inputs are consumed as raw bytes so that decoding happens inside the core, where an
undecodable or schema-broken message becomes a quarantine record instead of an exception
in Faust's deserializer. One agent reads both co-partitioned topics, so everything about a
policy passes through one place in arrival order.

Throughput notes (see ../shared/FAUST_THROUGHPUT.md): the leader topic is disabled (its
empty fetch stalls the input topics), and outputs go straight to the producer rather than
through ``Topic.send``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

import faust

from streams import metrics
from streams.core.origin import Origin, Stream
from streams.core.outputs import OutputKind, outputs_of
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet
from streams.replay import utc_now
from streams.settings import Settings

log = logging.getLogger(__name__)


def output_topics(settings: Settings) -> dict[OutputKind, str]:
    return {
        OutputKind.POLICY_CLEAN: settings.topic_policy_clean,
        OutputKind.ENDORSEMENT_CLEAN: settings.topic_endorsement_clean,
        OutputKind.QUARANTINE: settings.topic_quarantine,
        OutputKind.ALERTS: settings.topic_alerts,
        OutputKind.COMMISSION: settings.topic_commission,
    }


def build_app(settings: Settings, ruleset: RuleSet, clock: Callable[[], datetime] = utc_now) -> faust.App:
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
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
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
    stream_of_topic = {settings.topic_policy_events: Stream.POLICY, settings.topic_endorsement_events: Stream.ENDORSEMENT}
    destinations = output_topics(settings)

    @app.agent(inputs, name="validate")
    async def validate(records: faust.StreamT[bytes]) -> None:
        async for event in records.events():
            message = event.message
            started = time.perf_counter()
            now = clock()
            verdict = process_record(
                message.value or b"",  # a tombstone (null value) is judged as empty bytes
                Origin(topic=message.topic, partition=message.partition, offset=message.offset, key=message.key),
                now=now,
                ruleset=ruleset,
                stream=stream_of_topic[message.topic],
            )
            for output in outputs_of(verdict):
                await app.producer.send(
                    destinations[output.kind],
                    output.key.encode() if output.key is not None else None,
                    output.value,
                    None,
                    None,
                    list(output.headers),
                )
            metrics.observe(verdict, message.topic, time.perf_counter() - started, now)

    return app
