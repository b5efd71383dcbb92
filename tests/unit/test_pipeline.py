"""Routing: every input ends clean or quarantined with the right reason; nothing raises."""
from __future__ import annotations

import base64
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.enums import QuarantineReason, Severity, ValidationStatus
from streams.core import pipeline
from streams.core.origin import Origin, Stream
from streams.core.outputs import OutputKind, outputs_of
from streams.core.pipeline import process_record
from streams.core.rules import REGISTRY, Rule
from streams.core.ruleset import RuleSet
from tests.oracle import encode, endorsement_event, person, policy_event, wrong_check
from tests.unit.conftest import NOW, judge, judged_without_defect


def test_clean_event_keeps_unknown_fields_and_carries_validation() -> None:
    event = policy_event(crm_ref={"system": "核心", "id": 7}, endorsement_no="E9")
    event["policyholder"]["wechat"] = "chen_xm"
    verdict = judge(event, Stream.POLICY)
    assert verdict.outcome == "clean"
    out = json.loads(verdict.clean.model_dump_json())
    assert out["crm_ref"] == {"system": "核心", "id": 7}
    assert out["endorsement_no"] == "E9"
    assert out["policyholder"]["wechat"] == "chen_xm"
    assert out["validation"]["status"] == ValidationStatus.PASS
    assert out["validation"]["validated_at"].startswith("2025-11-20T08:00:00")
    assert out["validation"]["validator_version"]


def test_undecodable_bytes_are_quarantined_as_base64() -> None:
    raw = encode(policy_event()).decode().encode("gbk")
    verdict = judge(raw, Stream.POLICY)
    record = verdict.quarantine
    assert record is not None and record.reason is QuarantineReason.DECODE_ERROR
    assert record.raw_encoding == "base64" and base64.b64decode(record.raw) == raw
    assert (record.source_topic, record.partition, record.offset, record.key) == ("t", 0, 7, "P1")


def test_invalid_json_keeps_raw_text() -> None:
    verdict = judge(b'{"event_id": "x", ', Stream.POLICY)
    assert verdict.reason is QuarantineReason.DECODE_ERROR
    assert verdict.quarantine.raw == '{"event_id": "x", ' and verdict.quarantine.raw_encoding == "utf-8"


def test_json_that_is_not_an_object_is_a_decode_error() -> None:
    assert judge(b"[1, 2]", Stream.POLICY).reason is QuarantineReason.DECODE_ERROR
    assert judge(b"null", Stream.POLICY).reason is QuarantineReason.DECODE_ERROR


def test_schema_errors_name_the_field_without_echoing_values() -> None:
    event = policy_event(occurred_at="2025-11-03 10:15:00")
    event["policyholder"]["gender"] = "男"
    verdict = judge(event, Stream.POLICY)
    assert verdict.reason is QuarantineReason.SCHEMA_ERROR
    errors = "\n".join(verdict.quarantine.errors)
    assert "occurred_at" in errors and "policyholder.gender" in errors
    assert "男" not in errors and "2025-11-03 10:15:00" not in errors
    assert verdict.quarantine.event_id == "evt-T-01" and verdict.quarantine.policy_no == "P86330125119999"


def test_event_on_the_wrong_topic_is_a_schema_error() -> None:
    assert judge(endorsement_event(), Stream.POLICY).reason is QuarantineReason.SCHEMA_ERROR
    assert judge(policy_event(), Stream.ENDORSEMENT).reason is QuarantineReason.SCHEMA_ERROR


def test_replay_infers_the_stream_from_event_type() -> None:
    assert judge(policy_event(), None).stream is Stream.POLICY
    assert judge(endorsement_event(), None).stream is Stream.ENDORSEMENT
    unknown = judge(policy_event(event_type="POLICY_LAPSED"), None)
    assert unknown.reason is QuarantineReason.SCHEMA_ERROR and unknown.stream is None


def test_rule_error_quarantines_with_all_findings() -> None:
    event = policy_event(policyholder=person(id_no=wrong_check(person()["id_no"]), mobile="123"))
    verdict = judge(event, Stream.POLICY)
    assert verdict.reason is QuarantineReason.RULE_ERROR
    assert {f.rule for f in verdict.quarantine.findings} == {"ID_CHECKSUM", "MOBILE_FORMAT"}


def test_severity_override_turns_an_error_into_a_warning() -> None:
    ruleset = RuleSet.configured(severities={"MOBILE_FORMAT": Severity.WARNING})
    event = policy_event(policyholder=person(mobile="123"))
    event["insureds"] = []
    verdict = judge(event, Stream.POLICY, ruleset)
    assert verdict.outcome == "clean_with_warnings"
    assert verdict.clean.validation.status is ValidationStatus.PASS_WITH_WARNINGS
    assert [f.rule for f in verdict.clean.validation.findings] == ["MOBILE_FORMAT"]
    assert judge(event, Stream.POLICY, RuleSet.configured(severities={"MOBILE_FORMAT": None})).outcome == "clean"


def test_a_crashing_rule_quarantines_the_event_and_others_still_run() -> None:
    def broken(ctx: object) -> list:
        raise ZeroDivisionError("boom")

    ruleset = RuleSet.of(Rule("BROKEN", Severity.WARNING, broken), REGISTRY["MOBILE_FORMAT"])
    event = policy_event(policyholder=person(mobile="123"))
    event["insureds"] = []
    verdict = judge(event, Stream.POLICY, ruleset)
    assert verdict.reason is QuarantineReason.RULE_ERROR
    assert verdict.quarantine.errors == ["BROKEN: rule crashed with ZeroDivisionError"]
    assert verdict.crashed_rules == ("BROKEN",)
    assert [f.rule for f in verdict.findings] == ["MOBILE_FORMAT"]


def test_outputs_route_to_the_right_stream_with_headers() -> None:
    clean, = outputs_of(judge(endorsement_event(), Stream.ENDORSEMENT))
    assert clean.kind is OutputKind.ENDORSEMENT_CLEAN and clean.key == "P86330125119999" and clean.headers == ()
    quarantined, = outputs_of(judge(b"\xff", Stream.POLICY))
    assert quarantined.kind is OutputKind.QUARANTINE and quarantined.key == "P1"
    assert dict(quarantined.headers) == {
        "policyguard.reason": b"DECODE_ERROR",
        "policyguard.source.topic": b"t",
        "policyguard.source.partition": b"0",
        "policyguard.source.offset": b"7",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


def _mutations() -> st.SearchStrategy[dict]:
    """A valid event with one field anywhere replaced by arbitrary JSON."""
    paths = [("policyholder",), ("insureds",), ("beneficiaries",), ("actor",), ("occurred_at",), ("event_type",),
             ("policyholder", "id_no"), ("policyholder", "address"), ("policyholder", "birth_date"),
             ("policyholder", "mobile"), ("policyholder", "name"), ("beneficiary_designation",)]

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        event = policy_event()
        path = draw(st.sampled_from(paths))
        target = event
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = draw(json_values)
        return event

    return build()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None, database=None)
@given(raw=st.binary(max_size=300))
def test_no_bytes_raise_out_of_the_core(raw: bytes) -> None:
    judged_without_defect(process_record(raw, Origin(), now=NOW, ruleset=RuleSet.default(), stream=Stream.POLICY))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None, database=None)
@given(document=_mutations())
def test_no_document_raises_out_of_the_core(document: dict) -> None:
    verdict = judged_without_defect(
        process_record(encode(document), Origin(), now=NOW, ruleset=RuleSet.default(), stream=None))
    assert len(outputs_of(verdict)) == 1


class _BrokenModel:
    @classmethod
    def model_validate(cls, document: object) -> None:
        raise KeyError("a defect in the schema step")


def _broken_rule(ctx: object) -> list:
    raise ZeroDivisionError("a defect in a rule")


@pytest.mark.parametrize("defect", ["schema", "rule"])
def test_the_fuzz_tests_fail_when_a_stage_or_a_rule_crashes(monkeypatch: pytest.MonkeyPatch, defect: str) -> None:
    """The property the fuzz tests hold every input to is not satisfied by "it was quarantined":
    with a crash injected into the schema step or into a rule, the fuzz test itself fails."""
    if defect == "schema":
        monkeypatch.setitem(pipeline.MODELS, Stream.POLICY, _BrokenModel)
    else:
        monkeypatch.setitem(REGISTRY, "MOBILE_FORMAT", Rule("MOBILE_FORMAT", Severity.ERROR, _broken_rule))
    with pytest.raises(AssertionError):
        test_no_document_raises_out_of_the_core()


def test_the_last_line_of_defence_names_the_stage_and_logs_no_content(monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(pipeline.MODELS, Stream.POLICY, _BrokenModel)
    event = policy_event()
    with caplog.at_level(logging.ERROR, logger="streams.core.pipeline"):
        verdict = judge(event, Stream.POLICY)
    assert verdict.failed_stage == "schema" and verdict.reason is QuarantineReason.RULE_ERROR
    assert verdict.quarantine is not None and verdict.quarantine.errors == ["internal error in schema: KeyError"]
    assert [r.getMessage() for r in caplog.records] == ["schema stage failed on t[0]@7: KeyError"]
    holder = event["policyholder"]
    assert not any(holder[name] in caplog.text for name in ("name", "id_no", "mobile"))


def test_huge_and_deep_inputs_are_quarantined() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert judged_without_defect(judge(deep, Stream.POLICY)).reason is QuarantineReason.DECODE_ERROR
    huge = policy_event(insureds=[])
    huge["policyholder"]["name"] = "陈" * 1_000_000
    verdict = judged_without_defect(judge(huge, Stream.POLICY))
    assert verdict.reason is QuarantineReason.RULE_ERROR
    assert {(f.rule, f.party) for f in verdict.findings if f.severity is Severity.ERROR} == {
        ("NAME_INVALID", "policyholder")}
