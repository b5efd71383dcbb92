"""The bench's own pieces: a corpus that is what it claims to be, and percentile arithmetic."""
from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from bench.corpus import generate
from bench.live import histogram_p99_ms, mark_of, p99
from streams.core.driver import TopologyDriver
from streams.core.outputs import OutputKind


def test_the_corpus_is_deterministic_and_in_event_time_order() -> None:
    first, again, other = generate(600), generate(600), generate(600, seed=7)
    assert [e.value for e in first] == [e.value for e in again]
    assert [e.value for e in first] != [e.value for e in other]
    assert [e.at for e in first] == sorted(e.at for e in first)


def test_the_corpus_mixes_what_the_issue_asks_for() -> None:
    corpus = generate(3_000)
    sizes = [len(e.value) for e in corpus]
    assert 1_200 <= sum(sizes) / len(sizes) <= 1_800
    driver = TopologyDriver(start=datetime(2025, 6, 1, tzinfo=UTC))
    for event in corpus:
        driver.pipe(event.stream, event.value, key=event.key)
    driver.finish()
    reasons = Counter(q["reason"] for q in driver.read(OutputKind.QUARANTINE))
    assert {"DECODE_ERROR", "SCHEMA_ERROR", "RULE_ERROR", "UNAUTHORIZED_EDIT"} <= set(reasons)
    clean = driver.read(OutputKind.POLICY_CLEAN)
    statuses = Counter(c["validation"]["status"] for c in clean)
    assert statuses["PASS"] > 10 * statuses["PASS_WITH_WARNINGS"] > 0  # mostly clean, some warnings
    assert driver.read(OutputKind.ENDORSEMENT_CLEAN) and driver.read(OutputKind.ALERTS)
    names = {c["policyholder"]["name"] for c in clean}
    assert len({c["policy_no"] for c in clean}) > 400 and len(names) > 200  # many policies, many people
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in names)
    assert sum(len(c["insureds"]) > 1 for c in clean) and sum(bool(c["beneficiaries"]) for c in clean)
    assert json.loads(corpus[0].value)["policyholder"]["address"]["province"].endswith(("省", "市"))


def test_p99_of_a_sample_and_of_a_prometheus_histogram() -> None:
    assert p99(list(range(1, 101))) == 100
    assert p99([5.0] * 99 + [900.0]) == 900.0 and p99([5.0] * 199 + [900.0]) == 5.0
    text = "\n".join([
        '# TYPE policyguard_processing_seconds histogram',
        'policyguard_processing_seconds_bucket{le="0.001"} 900.0',
        'policyguard_processing_seconds_bucket{le="0.0025"} 985.0',
        'policyguard_processing_seconds_bucket{le="0.005"} 995.0',
        'policyguard_processing_seconds_bucket{le="+Inf"} 1000.0',
    ])
    assert histogram_p99_ms(text, "policyguard_processing_seconds") == 5.0
    assert mark_of(3_000) == 2_850 and mark_of(1) == 1
