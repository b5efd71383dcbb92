"""The state changelog: one compacted topic, partition p holding input partition p's policies.

A worker reads a partition's changelog when it is assigned that partition and keeps the
result as that partition's task. tansu reports a partition's end as the start of its last
batch plus one, so the end offset is never trusted: partitions are read from the beginning
until fetches come back empty (records are counted). On Apache Kafka this reads the same.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

EMPTY_FETCHES_TO_STOP = 2
"""A partition is read to its end once this many fetches in a row return nothing (tansu
under-reports end offsets, so they cannot say it)."""
FETCH_TIMEOUT_S = 0.3


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-policy-state-changelog"


async def read_partitions(
    bootstrap: str,
    topic: str,
    partitions: Iterable[int],
    *,
    fetch_timeout_ms: int = int(FETCH_TIMEOUT_S * 1000),
) -> dict[int, dict[bytes, bytes]]:
    """The latest value of every key in each partition (a null value deletes the key)."""
    chosen = sorted(set(partitions))
    stores: dict[int, dict[bytes, bytes]] = {p: {} for p in chosen}
    if not chosen:
        return stores
    started = time.monotonic()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                # big fetches: a restart reads a million ~1.2 KB records
                                max_partition_fetch_bytes=16_777_216, fetch_max_bytes=67_108_864)
    await consumer.start()
    read = 0
    try:
        tps = [TopicPartition(topic, p) for p in chosen]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        empty = 0
        while empty < EMPTY_FETCHES_TO_STOP:
            batches = await consumer.getmany(timeout_ms=fetch_timeout_ms, max_records=50_000)
            empty = 0 if any(batches.values()) else empty + 1
            for tp, messages in batches.items():
                store = stores[tp.partition]
                for message in messages:
                    read += 1
                    if message.key is None:
                        continue
                    if message.value is None:
                        store.pop(message.key, None)
                    else:
                        store[message.key] = message.value
    finally:
        await consumer.stop()
    log.info("recovered %d keys from %d changelog records of partitions %s in %.1fs",
             sum(map(len, stores.values())), read, chosen, time.monotonic() - started)
    return stores
