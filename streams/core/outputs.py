"""Verdicts as output records: which stream, which key, which bytes, which headers.

Both shells use this: the worker sends each :class:`Output` to its topic, replay appends it
to its file. Keeping the encoding here is what makes their records byte-for-byte alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streams.core.origin import Stream
from streams.core.pipeline import Verdict


class OutputKind(StrEnum):
    POLICY_CLEAN = "policy-events.clean"
    ENDORSEMENT_CLEAN = "endorsement-events.clean"
    QUARANTINE = "quarantine"
    ALERTS = "alerts"
    COMMISSION = "commission"


REPLAY_FILES: dict[OutputKind, str] = {
    OutputKind.ALERTS: "alerts.jsonl",
    OutputKind.QUARANTINE: "quarantine.jsonl",
    OutputKind.COMMISSION: "commission.jsonl",
    OutputKind.POLICY_CLEAN: "policy-events.clean.jsonl",
    OutputKind.ENDORSEMENT_CLEAN: "endorsement-events.clean.jsonl",
}

_CLEAN_KIND = {Stream.POLICY: OutputKind.POLICY_CLEAN, Stream.ENDORSEMENT: OutputKind.ENDORSEMENT_CLEAN}


@dataclass(frozen=True, slots=True)
class Output:
    kind: OutputKind
    key: str | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def quarantine_headers(verdict: Verdict) -> tuple[tuple[str, bytes], ...]:
    """Route-without-decoding headers of CONTRACT.md §3.2; only what is known is set."""
    record = verdict.quarantine
    assert record is not None
    headers = [("policyguard.reason", record.reason.value.encode())]
    for name, value in (
        ("policyguard.source.topic", record.source_topic),
        ("policyguard.source.partition", record.partition),
        ("policyguard.source.offset", record.offset),
        ("policyguard.source.file", record.file),
        ("policyguard.source.line", record.line),
    ):
        if value is not None:
            headers.append((name, str(value).encode()))
    return tuple(headers)


def outputs_of(verdict: Verdict) -> list[Output]:
    if verdict.quarantine is not None:
        record = verdict.quarantine
        key = record.policy_no if record.policy_no is not None else record.key
        return [Output(OutputKind.QUARANTINE, key, record.model_dump_json().encode(), quarantine_headers(verdict))]
    assert verdict.clean is not None and verdict.stream is not None
    return [Output(_CLEAN_KIND[verdict.stream], verdict.clean.policy_no, verdict.clean.model_dump_json().encode())]
