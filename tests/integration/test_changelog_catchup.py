"""The changelog catch-up reads past tansu's under-reported end offset."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.changelog_catchup import catch_up
from tests.integration.conftest import Servers

pytestmark = pytest.mark.integration


def test_catch_up_applies_the_rest_of_the_last_batch(servers: Servers) -> None:
    topic = f"catchup-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[int, int, dict[bytes, bytes]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers.bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 1, 1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=servers.bootstrap, linger_ms=50)
        await producer.start()
        await producer.send_and_wait(topic, b"v0", key=b"k0", partition=0)
        batch = [await producer.send(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=0) for i in range(1, 6)]
        batch.append(await producer.send(topic, None, key=b"k0", partition=0))  # a tombstone in the same batch
        await asyncio.gather(*batch)
        await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=servers.bootstrap)
        await consumer.start()
        tp = TopicPartition(topic, 0)
        reported = (await consumer.end_offsets([tp]))[tp]
        await consumer.stop()
        store = {b"k0": b"v0", b"k1": b"v1"}  # what a recovery stopping at the reported end has
        applied = await catch_up(servers.bootstrap, [tp], {topic: store})
        return reported, applied, store

    reported, applied, store = asyncio.run(scenario())
    assert reported < 7, "tansu now reports exact end offsets: the catch-up may be unnecessary"
    assert applied == 6
    assert store == {b"k1": b"v1", b"k2": b"v2", b"k3": b"v3", b"k4": b"v4", b"k5": b"v5"}
