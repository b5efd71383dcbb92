"""The embedded broker and the worker with a client other than aiokafka: librdkafka, through
confluent-kafka, produces the samples and consumes every output, headers included."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from streams.cli.main import main
from streams.produce import key_of, lines_of
from streams.topics import ensure_topics
from tests.integration.conftest import Servers, settings_for

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _outcome(document: dict) -> str:
    return document["validation"]["status"] if "validation" in document else document["reason"]


def test_librdkafka_produces_the_samples_and_reads_every_output(servers: Servers, tmp_path: Path,
                                                                 worker_factory) -> None:
    settings = settings_for(servers, tmp_path)
    asyncio.run(ensure_topics(settings))
    worker_factory(settings)
    producer = Producer({"bootstrap.servers": servers.bootstrap, "enable.idempotence": False})
    files = {settings.topic_policy_events: SAMPLES / "policy-events.jsonl",
             settings.topic_endorsement_events: SAMPLES / "endorsement-events.jsonl"}
    sent = 0
    for topic, path in files.items():
        for value in lines_of(path):
            producer.produce(topic, value=value, key=key_of(value))
            sent += 1
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": servers.bootstrap, "group.id": f"librdkafka-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.topic_policy_clean, settings.topic_endorsement_clean, settings.topic_quarantine])
    live: dict[str, str] = {}
    headers: dict[str, dict[str, bytes]] = {}
    deadline = time.monotonic() + 120
    try:
        while len(live) < sent and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            document = json.loads(message.value())
            live[document["event_id"]] = _outcome(document)
            headers[document["event_id"]] = dict(message.headers() or [])
    finally:
        consumer.close()
    assert len(live) == sent

    assert main(["replay", str(files[settings.topic_policy_events]), str(files[settings.topic_endorsement_events]),
                 "--out", str(tmp_path / "replay")]) == 0
    replayed = {}
    for name in ("policy-events.clean.jsonl", "endorsement-events.clean.jsonl", "quarantine.jsonl"):
        for line in (tmp_path / "replay" / name).read_text(encoding="utf-8").splitlines():
            document = json.loads(line)
            replayed[document["event_id"]] = _outcome(document)
    assert live == replayed  # the same answer whichever client carried the records
    quarantined = [event_id for event_id, outcome in live.items() if outcome not in ("PASS", "PASS_WITH_WARNINGS")]
    assert quarantined and all(headers[e]["policyguard.reason"].decode() == live[e] for e in quarantined)
