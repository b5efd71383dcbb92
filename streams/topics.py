"""Topic set-up before a worker joins: create what is missing, refuse mismatched inputs.

Both input topics are keyed by policy_no and must be co-partitioned, or one policy's
endorsements would be judged by a worker that never sees its policy events.
"""
from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streams.changelog import changelog_topic
from streams.settings import Settings


class TopicSetupError(RuntimeError):
    pass


async def _connect(bootstrap: str, timeout_s: float) -> AIOKafkaAdminClient:
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            return admin
        except KafkaError as exc:
            last = exc
            await admin.close()
            await asyncio.sleep(0.5)
    raise TopicSetupError(f"cannot reach Kafka at {bootstrap} within {timeout_s:.0f}s: {last}")


async def partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(topics)
    return {entry["topic"]: len(entry["partitions"]) for entry in described}


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> dict[str, int]:
    """Create missing topics, then check co-partitioning; returns partitions per topic."""
    if not settings.kafka_bootstrap_servers:
        raise TopicSetupError("KAFKA_BOOTSTRAP_SERVERS is not set")
    admin = await _connect(settings.kafka_bootstrap_servers, timeout_s)
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
    counts.update(await _ensure_changelog(settings, counts[policy] or 1, timeout_s))
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
