"""The rules file: overrides take effect, per channel too; bad files name their line."""
from __future__ import annotations

from pathlib import Path

import pytest

from schemas.enums import Severity
from streams.cli.main import main
from streams.core.rules_config import RulesConfigError, parse_rules_config
from tests.oracle import person, policy_event, resident_id
from tests.unit.conftest import judge

VAGUE = {"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路附近"}


def vague_event(channel: str = "AGENCY") -> dict:
    event = policy_event(policyholder=person(address=VAGUE), channel=channel)
    event["insureds"] = []
    return event


def test_severity_can_be_raised_lowered_and_switched_off() -> None:
    raised = parse_rules_config('[rules.ADDRESS_VAGUE]\nseverity = "ERROR"\n')
    assert judge(vague_event(), ruleset=raised).outcome == "quarantined"
    off = parse_rules_config('[rules.ADDRESS_VAGUE]\nseverity = "OFF"\n')
    assert judge(vague_event(), ruleset=off).outcome == "clean"
    lowered = parse_rules_config('[rules.ID_EXPIRED]\nseverity = "WARNING"\n')
    expired = policy_event(policyholder=person(id_valid_to="2020-01-01"))
    expired["insureds"] = []
    verdict = judge(expired, ruleset=lowered)
    assert verdict.outcome == "clean_with_warnings"
    assert [(f.rule, f.severity) for f in verdict.findings] == [("ID_EXPIRED", Severity.WARNING)]


def test_severity_per_channel() -> None:
    ruleset = parse_rules_config('[rules.ADDRESS_VAGUE.channels]\nBANCASSURANCE = "ERROR"\nONLINE = "OFF"\n')
    assert judge(vague_event("BANCASSURANCE"), ruleset=ruleset).outcome == "quarantined"
    assert judge(vague_event("ONLINE"), ruleset=ruleset).outcome == "clean"
    assert judge(vague_event("AGENCY"), ruleset=ruleset).outcome == "clean_with_warnings"


def test_thresholds() -> None:
    ruleset = parse_rules_config("[thresholds]\nadult_age_years = 16\nplaceholder_names = []\n"
                                 "placeholder_name_parts = []\nhonorifics = []\n")
    event = policy_event(policyholder=person(name="王先生"))
    event["insureds"] = []
    assert judge(event, ruleset=ruleset).findings == ()
    # 17 on the event's day (2025-11-20): a minor under the default 18, an adult under 16.
    birth = "2008-06-01"
    young = policy_event(policyholder=person(birth_date=birth, id_no=resident_id("330106", birth, "M")))
    young["insureds"] = []
    assert [f.rule for f in judge(young).findings] == ["POLICYHOLDER_MINOR"]
    assert judge(young, ruleset=ruleset).findings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('# tuned for 2026\n\n[rules.MOBILE_FORMATT]\nseverity = "OFF"\n', "line 3: unknown rule id 'MOBILE_FORMATT'"),
        ('[rules.ADDRESS_VAGUE]\nseverity = "FATAL"\n', "line 2: rules.ADDRESS_VAGUE.severity"),
        ('[rules.ADDRESS_VAGUE.channels]\nBANK = "ERROR"\n', "line 2: rules.ADDRESS_VAGUE.channels.BANK"),
        ("[thresholds]\nmax_age_years = 120\nmax_age = 3\n", "line 3: thresholds.max_age"),
        ('[rules.ADDRESS_VAGUE\nseverity = "ERROR"\n', "not valid TOML"),
        ("[limits]\nx = 1\n", "line 1: limits"),
    ],
)
def test_bad_files_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(RulesConfigError) as error:
        parse_rules_config(text, source="rules.toml")
    assert message in str(error.value)
    assert str(error.value).startswith("rules.toml")


def test_replay_refuses_a_bad_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[rules.NOPE]\nseverity = "OFF"\n', encoding="utf-8")
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    assert main(["replay", str(source), "--out", str(tmp_path / "out"), "--rules", str(rules)]) == 2
    assert "line 1: unknown rule id 'NOPE'" in capsys.readouterr().err
