"""Verdicts as output records: which stream, which key, which bytes, which headers.

Both shells use this: the worker sends each :class:`Output` to its topic, replay appends it
to its file. Keeping the encoding here is what makes their records byte-for-byte alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from schemas.quarantine import QuarantineRecord
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


def quarantine_headers(record: QuarantineRecord) -> tuple[tuple[str, bytes], ...]:
    """Route-without-decoding headers of CONTRACT.md §3.2; only what is known is set."""
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


def quarantine_output(record: QuarantineRecord) -> Output:
    key = record.policy_no if record.policy_no is not None else record.key
    return Output(OutputKind.QUARANTINE, key, record.model_dump_json().encode(), quarantine_headers(record))


def clean_output(stream: Stream, policy_no: str, value: bytes) -> Output:
    return Output(_CLEAN_KIND[stream], policy_no, value)


def record_output(kind: OutputKind, policy_no: str, record: BaseModel) -> Output:
    """An alert or a commission instruction, keyed by its policy."""
    return Output(kind, policy_no, record.model_dump_json().encode())


def outputs_of(verdict: Verdict) -> list[Output]:
    """The stateless routing of one verdict: its clean record or its quarantine record."""
    if verdict.quarantine is not None:
        return [quarantine_output(verdict.quarantine)]
    assert verdict.clean is not None and verdict.stream is not None
    return [clean_output(verdict.stream, verdict.clean.policy_no, verdict.clean.model_dump_json().encode())]
