"""``policyguard produce``: publish a JSON Lines file to a topic, keyed by policy_no.

Lines are sent as they are (byte for byte), so bad records can be published to test the
quarantine path; the key is taken from the line when it parses, else the record is unkeyed.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def key_of(raw: bytes) -> bytes | None:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    policy_no = document.get("policy_no") if isinstance(document, dict) else None
    if not isinstance(policy_no, str) or not policy_no.strip():
        return None
    try:
        return policy_no.strip().encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no key can carry it; the worker quarantines the record
        return None


def lines_of(path: Path) -> list[bytes]:
    with path.open("rb") as handle:
        return [line.rstrip(b"\r\n") for line in handle if line.strip()]


async def publish(bootstrap: str, topic: str, values: Iterable[bytes]) -> list[Published]:
    """Send every value and wait for all acknowledgements; returns where each one landed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4_194_304)
    await producer.start()
    try:
        pending = []
        for value in values:
            key = key_of(value)
            pending.append((key, value, await producer.send(topic, value=value, key=key)))
        published = []
        for key, value, future in pending:
            meta = await future
            published.append(Published(topic, meta.partition, meta.offset, key, value))
        return published
    finally:
        await producer.stop()
