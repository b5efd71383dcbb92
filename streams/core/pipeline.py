"""One raw record in, one verdict out: decode → schema → rules → route.

Pure: the caller passes the time (``now``) and the rule set, and gets a value back. The
worker and the replay command both call :func:`process_record`, which is why they agree.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.clean_event import CleanEndorsementEvent, CleanPolicyEvent
from schemas.endorsement_event import EndorsementEvent
from schemas.enums import EndorsementEventType, PolicyEventType, QuarantineReason, Severity, ValidationStatus
from schemas.finding import Finding, Validation
from schemas.policy_event import PolicyEvent
from schemas.quarantine import QuarantineRecord
from streams import __version__
from streams.core.decode import DecodeFailure, decode_object, raw_text
from streams.core.evaluate import evaluate
from streams.core.origin import Origin, Stream
from streams.core.ruleset import RuleSet

log = logging.getLogger(__name__)

InputEvent = PolicyEvent | EndorsementEvent
CleanEvent = CleanPolicyEvent | CleanEndorsementEvent

MODELS: dict[Stream, type[InputEvent]] = {Stream.POLICY: PolicyEvent, Stream.ENDORSEMENT: EndorsementEvent}
CLEAN_MODELS: dict[Stream, type[CleanEvent]] = {
    Stream.POLICY: CleanPolicyEvent,
    Stream.ENDORSEMENT: CleanEndorsementEvent,
}
_POLICY_TYPES = {t.value for t in PolicyEventType}
_ENDORSEMENT_TYPES = {t.value for t in EndorsementEventType}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one input record: exactly one of ``clean`` / ``quarantine`` is set."""

    origin: Origin
    stream: Stream | None
    event: InputEvent | None
    findings: tuple[Finding, ...]
    raw: bytes = b""
    clean: CleanEvent | None = None
    quarantine: QuarantineRecord | None = None
    crashed_rules: tuple[str, ...] = ()
    failed_stage: str | None = None
    """The stage (decode, schema, rules, route) whose unforeseen exception quarantined the record:
    a defect of ours, not of the input, so it is logged and counted as well
    (``policyguard_stage_errors``), never passed off as an ordinary quarantine."""

    @property
    def outcome(self) -> str:
        if self.quarantine is not None:
            return "quarantined"
        if self.clean is None:
            raise ValueError("a verdict with neither a clean nor a quarantine record")
        return "clean" if self.clean.validation.status is ValidationStatus.PASS else "clean_with_warnings"

    @property
    def reason(self) -> QuarantineReason | None:
        return self.quarantine.reason if self.quarantine is not None else None


def stream_of(document: dict[str, Any]) -> Stream | None:
    """Replay has no topic: the event type decides the stream."""
    event_type = document.get("event_type")
    if isinstance(event_type, str):
        event_type = event_type.strip().upper()
        if event_type in _POLICY_TYPES:
            return Stream.POLICY
        if event_type in _ENDORSEMENT_TYPES:
            return Stream.ENDORSEMENT
    return None


def schema_errors(exc: ValidationError) -> list[str]:
    """``loc: message`` lines; pydantic's input values are left out (they may be PII)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
        lines.append(f"{loc or '(root)'}: {error['msg']}")
    return lines


def process_record(
    raw: bytes,
    origin: Origin,
    *,
    now: datetime,
    ruleset: RuleSet,
    stream: Stream | None = None,
    validator_version: str = __version__,
) -> Verdict:
    """Judge one record. ``stream`` is the input topic's stream live, None in replay.

    Never raises for any input: a defect anywhere below quarantines the record (RULE_ERROR,
    naming the stage and the exception class) so one poison message cannot stop a partition;
    the verdict's ``failed_stage`` says so, for the caller to count, and it is logged here (the
    record's position and the exception class: nothing of its content).
    """
    progress = _Progress()
    try:
        return _judge(raw, origin, now=now, ruleset=ruleset, stream=stream, validator_version=validator_version,
                      progress=progress)
    except Exception as exc:  # noqa: BLE001 - last line of defence, see docstring
        log.error("%s stage failed on %s: %s", progress.stage, origin.where, type(exc).__name__)
        record = build_quarantine(raw, origin, QuarantineReason.RULE_ERROR, now=now,
                                  errors=[f"internal error in {progress.stage}: {type(exc).__name__}"])
        return Verdict(origin, stream, None, (), raw, quarantine=record, failed_stage=progress.stage)


class _Progress:
    """The stage a record is in, for naming the one that failed."""

    __slots__ = ("stage",)

    def __init__(self) -> None:
        self.stage = "decode"


def build_quarantine(
    raw: bytes,
    origin: Origin,
    reason: QuarantineReason,
    *,
    now: datetime,
    findings: tuple[Finding, ...] | list[Finding] = (),
    errors: tuple[str, ...] | list[str] = (),
    event_id: str | None = None,
    policy_no: str | None = None,
) -> QuarantineRecord:
    text = raw_text(raw)
    return QuarantineRecord(
        source_topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        file=origin.file,
        line=origin.line,
        key=_key_text(origin.key),
        raw=text.text,
        raw_encoding=text.encoding,
        reason=reason,
        findings=list(findings),
        errors=list(errors),
        event_id=event_id,
        policy_no=policy_no,
        quarantined_at=now,
    )


def _judge(
    raw: bytes,
    origin: Origin,
    *,
    now: datetime,
    ruleset: RuleSet,
    stream: Stream | None,
    validator_version: str,
    progress: _Progress,
) -> Verdict:

    def quarantine(
        reason: QuarantineReason,
        *,
        errors: list[str] | tuple[str, ...] = (),
        findings: tuple[Finding, ...] = (),
        document: dict[str, Any] | None = None,
        event: InputEvent | None = None,
        crashed_rules: tuple[str, ...] = (),
    ) -> Verdict:
        ids = document or {}
        record = build_quarantine(
            raw,
            origin,
            reason,
            now=now,
            findings=findings,
            errors=errors,
            event_id=event.event_id if event else _str_or_none(ids.get("event_id")),
            policy_no=event.policy_no if event else _str_or_none(ids.get("policy_no")),
        )
        return Verdict(origin, resolved, event, findings, raw, quarantine=record, crashed_rules=crashed_rules)

    resolved = stream
    try:
        document = decode_object(raw)
    except DecodeFailure as exc:
        return quarantine(QuarantineReason.DECODE_ERROR, errors=[str(exc)])

    progress.stage = "schema"
    if resolved is None:
        resolved = stream_of(document)
        if resolved is None:
            return quarantine(
                QuarantineReason.SCHEMA_ERROR,
                errors=["event_type: missing or not a PolicyEvent / EndorsementEvent type"],
                document=document,
            )
    try:
        event = MODELS[resolved].model_validate(document)
    except ValidationError as exc:
        return quarantine(QuarantineReason.SCHEMA_ERROR, errors=schema_errors(exc), document=document)
    except (RecursionError, ValueError, TypeError) as exc:
        return quarantine(
            QuarantineReason.SCHEMA_ERROR, errors=[f"unreadable record: {type(exc).__name__}"], document=document
        )

    progress.stage = "rules"
    evaluation = evaluate(event, ruleset)
    if evaluation.crashes or any(f.severity is Severity.ERROR for f in evaluation.findings):
        return quarantine(
            QuarantineReason.RULE_ERROR,
            errors=[str(crash) for crash in evaluation.crashes],
            findings=evaluation.findings,
            event=event,
            crashed_rules=tuple(crash.rule for crash in evaluation.crashes),
        )

    progress.stage = "route"
    status = ValidationStatus.PASS_WITH_WARNINGS if evaluation.findings else ValidationStatus.PASS
    validation = Validation(
        status=status, findings=list(evaluation.findings), validated_at=now, validator_version=validator_version
    )
    clean_model = CLEAN_MODELS[resolved]
    clean = clean_model.model_construct(
        _fields_set=event.model_fields_set | {"validation"},
        **dict(event),  # iterating a model yields its extra (pass-through) fields too
        validation=validation,
    )
    return Verdict(origin, resolved, event, evaluation.findings, raw, clean=clean)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _key_text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="backslashreplace")
