"""Verdicts as output records: which stream, which key, which bytes, which headers.

Both shells use this: the worker sends each :class:`Output` to its topic, replay appends it
to its file. Keeping the encoding here is what makes their records byte-for-byte alike.
"""
from __future__ import annotations

import base64
import hashlib
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


REASON_HEADER = "policyguard.reason"


def quarantine_headers(record: QuarantineRecord) -> tuple[tuple[str, bytes], ...]:
    """Route-without-decoding headers of docs/contract.md §3.2; only what is known is set."""
    headers = [(REASON_HEADER, record.reason.value.encode())]
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


RAW_KEEP_BYTES = 65_536
"""How much of an original too large to carry a quarantine record keeps (docs/contract.md §3.2)."""
FINDINGS_KEPT = 200


class OutputTooLarge(Exception):
    """A clean record, alert or instruction over the broker's message limit."""


def _original_bytes(record: QuarantineRecord) -> bytes:
    return base64.b64decode(record.raw) if record.raw_encoding == "base64" else record.raw.encode("utf-8")


def cut_quarantine(record: QuarantineRecord) -> QuarantineRecord:
    """The record with ``raw`` cut to its first bytes, plus the full size and digest, and
    findings / errors cut to a readable number (the count of the rest is kept)."""
    original = _original_bytes(record) if record.raw_bytes is None else None
    update: dict[str, object] = {}
    if original is not None and len(original) > RAW_KEEP_BYTES:
        head = original[:RAW_KEEP_BYTES]
        if record.raw_encoding == "base64":
            update["raw"] = base64.b64encode(head).decode("ascii")
        else:
            update["raw"] = head.decode("utf-8", errors="ignore")  # never ends in half a character
        update["raw_bytes"] = len(original)
        update["raw_sha256"] = hashlib.sha256(original).hexdigest()
    errors = list(record.errors)
    if len(record.findings) > FINDINGS_KEPT:
        update["findings"] = record.findings[:FINDINGS_KEPT]
        errors.append(f"{len(record.findings) - FINDINGS_KEPT} more findings left out: the record was too large")
    if len(errors) > FINDINGS_KEPT:
        errors = [*errors[:FINDINGS_KEPT], f"{len(errors) - FINDINGS_KEPT} more errors left out"]
    if errors != record.errors:
        update["errors"] = errors
    return record.model_copy(update=update)


def fit(output: Output, max_bytes: int) -> Output:
    """An output the broker will take: a quarantine record is cut down, anything else that is
    too large raises :class:`OutputTooLarge` (its input is then quarantined instead)."""
    if len(output.value) <= max_bytes:
        return output
    if output.kind is not OutputKind.QUARANTINE:
        raise OutputTooLarge(f"{output.kind.value} record of {len(output.value):,} bytes exceeds {max_bytes:,}")
    record = cut_quarantine(QuarantineRecord.model_validate_json(output.value))
    cut = quarantine_output(record)
    if len(cut.value) > max_bytes:
        raise OutputTooLarge(f"quarantine record of {len(cut.value):,} bytes exceeds {max_bytes:,} even when cut")
    return cut


def clean_output(stream: Stream, policy_no: str, value: bytes) -> Output:
    return Output(_CLEAN_KIND[stream], policy_no, value)


def record_output(kind: OutputKind, policy_no: str, record: BaseModel) -> Output:
    """An alert or a commission instruction, keyed by its policy."""
    return Output(kind, policy_no, record.model_dump_json().encode())


def outputs_of(verdict: Verdict) -> list[Output]:
    """The stateless routing of one verdict: its clean record or its quarantine record."""
    if verdict.quarantine is not None:
        return [quarantine_output(verdict.quarantine)]
    if verdict.clean is None or verdict.stream is None:
        raise ValueError("a verdict with neither a quarantine record nor a clean record on a stream")
    return [clean_output(verdict.stream, verdict.clean.policy_no, verdict.clean.model_dump_json().encode())]
