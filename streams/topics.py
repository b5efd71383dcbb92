"""Topic set-up before a worker joins: create what is missing, refuse mismatched inputs.

Both input topics are keyed by policy_no and must be co-partitioned, or one policy's
endorsements would be judged by a worker that never sees its policy events.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streams.changelog import changelog_topic
from streams.settings import Settings

log = logging.getLogger("policyguard.topics")


class TopicSetupError(RuntimeError):
    pass


PROGRESS_EVERY_S = 5.0


@contextmanager
def _client_quiet() -> Iterator[None]:
    """aiokafka logs an ERROR for every failed attempt (60 lines in 30 s): while we wait for
    the broker, our own progress lines say it once."""
    client = logging.getLogger("aiokafka")
    level = client.level
    client.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client.setLevel(level)


async def _connect(bootstrap: str, timeout_s: float) -> AIOKafkaAdminClient:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reported = started
    last: Exception | None = None
    with _client_quiet():
        while loop.time() - started < timeout_s:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                        request_timeout_ms=int(min(10.0, timeout_s) * 1000))
            try:
                await admin.start()
                return admin
            except KafkaError as exc:
                last = exc
                await admin.close()
            if loop.time() - reported >= PROGRESS_EVERY_S:
                reported = loop.time()
                log.warning("waiting for Kafka at %s: not reachable yet (%.0f of %.0f s)", bootstrap,
                            reported - started, timeout_s)
            await asyncio.sleep(0.5)
    raise TopicSetupError(
        f"cannot reach Kafka at {bootstrap} within {timeout_s:.0f} s ({type(last).__name__ if last else 'timeout'}); "
        "check KAFKA_BOOTSTRAP_SERVERS and that the broker is up (POLICYGUARD_CONNECT_TIMEOUT_S sets the wait)")


async def partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(topics)
    return {entry["topic"]: len(entry["partitions"]) for entry in described}


async def ensure_topics(settings: Settings, timeout_s: float | None = None) -> dict[str, int]:
    """Create missing topics, then check co-partitioning; returns partitions per topic."""
    if not settings.kafka_bootstrap_servers:
        raise TopicSetupError("KAFKA_BOOTSTRAP_SERVERS is not set")
    wait = timeout_s or settings.connect_timeout_s
    admin = await _connect(settings.kafka_bootstrap_servers, wait)
    try:
        wanted = [*settings.input_topics, *settings.output_topics]
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
                        for name in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another worker created them first
        counts = await partition_counts(admin, wanted)
    finally:
        await admin.close()
    policy, endorsement = settings.input_topics
    if counts.get(policy) != counts.get(endorsement):
        raise TopicSetupError(
            f"input topics are not co-partitioned: {policy} has {counts.get(policy)} partitions, "
            f"{endorsement} has {counts.get(endorsement)}. Both are keyed by policy_no and must have the "
            "same partition count, or one policy's events would be split across workers. "
            "Repartition one of them (kafka-topics --alter --partitions N) before starting."
        )
    counts.update(await _ensure_changelog(settings, counts[policy] or 1, wait))
    return counts


async def _ensure_changelog(settings: Settings, partitions: int, timeout_s: float) -> dict[str, int]:
    """The state changelog: compacted, one partition per input partition (state moves with it)."""
    name = changelog_topic(settings.app_id)
    admin = await _connect(settings.kafka_bootstrap_servers or "", timeout_s)
    try:
        if name not in set(await admin.list_topics()):
            try:
                await admin.create_topics([NewTopic(name, partitions, settings.topic_replication_factor,
                                                    topic_configs={"cleanup.policy": "compact"})])
            except TopicAlreadyExistsError:
                pass
        found = (await partition_counts(admin, [name])).get(name)
    finally:
        await admin.close()
    if found != partitions:
        raise TopicSetupError(
            f"state changelog {name} has {found} partitions but the input topics have {partitions}: "
            "each input partition's state lives in the changelog partition of the same number. "
            "Start with a new POLICYGUARD_APP_ID after repartitioning the inputs."
        )
    return {name: found}
