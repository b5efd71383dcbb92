"""The worker on a real broker: every input exactly once, poison messages survived, same as replay."""
from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest

from streams.accounting import Accounting, collect
from streams.cli.main import main
from streams.produce import lines_of, publish
from streams.settings import Settings
from tests.integration.conftest import Servers, settings_for
from tests.oracle import encode, endorsement_event, person, policy_event, resident_id, wrong_check

pytestmark = pytest.mark.integration


def policy_lines() -> list[bytes]:
    holder = person()
    bank = dict(channel="BANCASSURANCE", intermediary_code="BK1")
    return [
        b"\xff\xfe\x00 poison first",  # the very first record of the partition cannot be decoded
        encode(policy_event(event_id="L-01", policy_no="PA")),
        encode(policy_event(event_id="L-02", policy_no="PB", policyholder=person(id_no=wrong_check(holder["id_no"])), **bank)),
        encode(policy_event(event_id="L-03", policy_no="PC", occurred_at="yesterday")),
        encode(policy_event(event_id="L-04", policy_no="PD", policyholder=person(mobile="+86 139 5710 2846"))),
        b'{"event_id": "L-05", "policy_no": "PE", "event_type": ',
        encode(policy_event(event_id="L-06", policy_no="PF", policyholder=person(
            gender="F", id_no=resident_id("330106", "1985-03-12", "M")))),
        json.dumps(policy_event(event_id="L-07", policy_no="PG"), ensure_ascii=False).encode("gbk"),
        encode(policy_event(event_id="L-08", policy_no="PH", policyholder=person(postal_code="31001"))),
        encode(policy_event(event_id="L-09", policy_no="PA", event_type="APPLICATION_CONFIRMED")),
        encode(policy_event(event_id="L-10", policy_no="PI", policyholder=person(address={
            "province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "同上"}))),
    ]


def endorsement_lines() -> list[bytes]:
    return [
        encode(endorsement_event(event_id="E-01", policy_no="PA")),
        encode(endorsement_event(event_id="E-02", policy_no="PB", changes=[
            {"party": "policyholder", "field": "mobile", "old": "13957102846", "new": "1892673058"}])),
        b"[not an object]",
        encode(policy_event(event_id="E-04", policy_no="PC")),  # a policy event on the endorsement topic
        encode(endorsement_event(event_id="E-05", policy_no="PD")),
    ]


EXPECTED_POLICY = ["DECODE_ERROR", "clean", "RULE_ERROR ID_CHECKSUM", "SCHEMA_ERROR", "clean", "DECODE_ERROR",
                   "RULE_ERROR ID_GENDER_MISMATCH", "DECODE_ERROR", "RULE_ERROR POSTAL_CODE_FORMAT", "clean",
                   "clean_with_warnings"]
EXPECTED_ENDORSEMENT = ["clean", "RULE_ERROR MOBILE_FORMAT", "DECODE_ERROR", "SCHEMA_ERROR", "clean"]


def summary(document: dict) -> str:
    if "validation" in document:
        return "clean" if document["validation"]["status"] == "PASS" else "clean_with_warnings"
    rules = sorted({f["rule"] for f in document["findings"] if f["severity"] == "ERROR"})
    return " ".join([document["reason"], *rules])


def comparable(document: dict) -> dict:
    """A record without the fields that legitimately differ between live and replay."""
    document = json.loads(json.dumps(document))
    for volatile in ("quarantined_at", "source_topic", "partition", "offset", "file", "line", "key"):
        document.pop(volatile, None)
    document.get("validation", {}).pop("validated_at", None)
    return document


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_live(settings: Settings, worker_factory, policy_file: Path, endorsement_file: Path) -> Accounting:
    async def scenario() -> Accounting:
        published = await publish(settings.kafka_bootstrap_servers, settings.topic_policy_events, lines_of(policy_file))
        published += await publish(
            settings.kafka_bootstrap_servers, settings.topic_endorsement_events, lines_of(endorsement_file))
        worker = worker_factory(settings)
        accounting = await collect(settings.kafka_bootstrap_servers,
                                   [settings.topic_policy_clean, settings.topic_endorsement_clean],
                                   settings.topic_quarantine, Accounting(published), timeout_s=90, settle_s=2.0,
                                   alive=worker.running)
        assert worker.running(), worker.log_tail()
        return accounting

    return asyncio.run(scenario())


@pytest.mark.parametrize("partitions", [1, 3])
def test_mixed_batch_every_input_once_and_same_as_replay(
    servers: Servers, tmp_path: Path, worker_factory, partitions: int
) -> None:
    settings = settings_for(servers, tmp_path, partitions=partitions)
    policy_file = write_lines(tmp_path / "policy.jsonl", policy_lines())
    endorsement_file = write_lines(tmp_path / "endorsement.jsonl", endorsement_lines())
    asyncio.run(_create(settings))

    accounting = run_live(settings, worker_factory, policy_file, endorsement_file)

    assert accounting.complete, f"missing: {accounting.missing}"
    assert not accounting.duplicated and not accounting.unmatched
    live = {}
    for record in accounting.inputs:
        (topic, document), = accounting.outputs[(record.topic, record.partition, record.offset)]
        live[(record.topic, record.value)] = (topic, document)
    policy_live = [live[(settings.topic_policy_events, v)] for v in lines_of(policy_file)]
    endorsement_live = [live[(settings.topic_endorsement_events, v)] for v in lines_of(endorsement_file)]
    assert [summary(d) for _, d in policy_live] == EXPECTED_POLICY
    assert [summary(d) for _, d in endorsement_live] == EXPECTED_ENDORSEMENT
    assert {t for t, d in policy_live if "validation" in d} == {settings.topic_policy_clean}
    warned, = [d for _, d in policy_live if summary(d) == "clean_with_warnings"]
    assert [(f["rule"], f["party"], f["field"]) for f in warned["validation"]["findings"]] == [
        ("ADDRESS_VAGUE", "policyholder", "address.detail"), ("ADDRESS_VAGUE", "insureds[0]", "address.detail")]
    assert {t for t, d in endorsement_live if "validation" in d} == {settings.topic_endorsement_clean}

    # Replay of the same files (the endorsement file uses a policy event on purpose: replay routes
    # it by event type, live by topic, so that one line is compared by outcome only).
    out = tmp_path / "replay"
    assert main(["replay", str(policy_file), str(endorsement_file), "--out", str(out)]) == 0
    replayed = _replayed_by_line(out, [policy_file, endorsement_file])
    for index, (_, document) in enumerate(policy_live, start=1):
        assert comparable(replayed[(str(policy_file), index)]) == comparable(document), f"policy line {index}"
    for index, (_, document) in enumerate(endorsement_live, start=1):
        if index == 4:
            continue
        assert comparable(replayed[(str(endorsement_file), index)]) == comparable(document), f"endorsement line {index}"

    metrics = _scrape(settings.metrics_port)
    assert _metric(metrics, "policyguard_events_total", topic=settings.topic_policy_events, outcome="quarantined") == 7
    assert _metric(metrics, "policyguard_events_total", topic=settings.topic_policy_events, outcome="clean") == 3
    assert _metric(metrics, "policyguard_events_total", topic=settings.topic_endorsement_events, outcome="clean") == 2
    assert _metric(metrics, "policyguard_events_total", topic=settings.topic_policy_events,
                   outcome="clean_with_warnings") == 1
    assert _metric(metrics, "policyguard_rule_findings_total", rule="ADDRESS_VAGUE", severity="WARNING",
                   channel="AGENCY") == 2
    assert "policyguard_processing_seconds_count" in metrics
    quarantined = sum(_metric_values(metrics, "policyguard_events_total", outcome="quarantined"))
    by_reason = _metric_values(metrics, "policyguard_quarantined_total")
    assert sum(by_reason) == quarantined and len(by_reason) >= 2  # every quarantined input, under its reason
    assert _metric(metrics, "policyguard_consumer_lag", topic=settings.topic_policy_events) >= 0
    assert wrong_check(person()["id_no"]) not in metrics and "13957102846" not in metrics


def test_quarantine_records_carry_kafka_headers(servers: Servers, tmp_path: Path, worker_factory) -> None:
    from aiokafka import AIOKafkaConsumer

    settings = settings_for(servers, tmp_path)
    asyncio.run(_create(settings))
    asyncio.run(publish(settings.kafka_bootstrap_servers, settings.topic_policy_events, [b"\x80broken"]))
    worker_factory(settings)

    async def first_quarantined() -> tuple[bytes | None, dict[str, bytes]]:
        consumer = AIOKafkaConsumer(settings.topic_quarantine, bootstrap_servers=settings.kafka_bootstrap_servers,
                                    group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 60)
            return message.key, dict(message.headers)
        finally:
            await consumer.stop()

    key, headers = asyncio.run(first_quarantined())
    assert key is None
    assert headers["policyguard.reason"] == b"DECODE_ERROR"
    assert headers["policyguard.source.topic"] == settings.topic_policy_events.encode()
    assert headers["policyguard.source.partition"] == b"0" and headers["policyguard.source.offset"] == b"0"


async def _create(settings: Settings) -> None:
    from streams.topics import ensure_topics

    await ensure_topics(settings)


def _replayed_by_line(out: Path, inputs: list[Path]) -> dict[tuple[str, int], dict]:
    by_line: dict[tuple[str, int], dict] = {}
    sources = {}
    for name in ("quarantine.jsonl", "policy-events.clean.jsonl", "endorsement-events.clean.jsonl"):
        for line in (out / name).read_text(encoding="utf-8").splitlines():
            document = json.loads(line)
            if "file" in document:
                by_line[(document["file"], document["line"])] = document
            else:
                sources.setdefault(document["event_id"], document)
    # Clean records carry no file/line: find their line by event_id in the inputs.
    for path in inputs:
        file = str(path)
        for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
            try:
                event_id = json.loads(raw).get("event_id")
            except (ValueError, AttributeError):
                continue
            if event_id in sources and (file, number) not in by_line:
                by_line[(file, number)] = sources[event_id]
    return by_line


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _metric_values(text: str, name: str, **labels: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())]


def _metric(text: str, name: str, **labels: str) -> float:
    values = _metric_values(text, name, **labels)
    if not values:
        raise AssertionError(f"{name}{labels} not in metrics")
    return values[0]
