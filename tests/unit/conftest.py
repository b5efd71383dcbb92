from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.core.origin import Origin, Stream
from streams.core.pipeline import Verdict, process_record
from streams.core.ruleset import RuleSet
from tests.oracle import encode

NOW = datetime(2025, 11, 20, 8, 0, tzinfo=UTC)


def judge(document: dict | bytes, stream: Stream | None = None, ruleset: RuleSet | None = None) -> Verdict:
    raw = document if isinstance(document, bytes) else encode(document)
    return process_record(raw, Origin(topic="t", partition=0, offset=7, key=b"P1"), now=NOW,
                          ruleset=ruleset or RuleSet.default(), stream=stream)


def judged_without_defect(verdict: Verdict) -> Verdict:
    """What every input, however strange, must give: exactly one of clean / quarantine, and no
    stage or rule of ours failing on the way. An input nobody foresaw is an ordinary DECODE /
    SCHEMA / RULE quarantine with its reason; a crash caught by the last line of defence
    (``failed_stage``) or a crashed rule is a defect, even though it is quarantined too."""
    assert (verdict.clean is None) != (verdict.quarantine is None)
    assert verdict.failed_stage is None, verdict.quarantine.errors if verdict.quarantine else None
    assert not verdict.crashed_rules, verdict.crashed_rules
    return verdict


def rules_of(verdict: Verdict, *only: str) -> set[tuple[str, str | None, str | None]]:
    """(rule, party, field) of every finding, or of the findings of the ``only`` rules."""
    return {(f.rule, f.party, f.field) for f in verdict.findings if not only or f.rule in only}


@pytest.fixture
def now() -> datetime:
    return NOW
