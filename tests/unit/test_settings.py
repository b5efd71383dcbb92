"""The one settings object: sections, the settings file, and what a user sees when they get it wrong."""
from __future__ import annotations

from pathlib import Path

import pytest

from schemas.alert import Penalty
from schemas.enums import ActorRole, PolicyEventType
from streams.cli.main import main
from streams.settings import SETTINGS_FILE_VARIABLE, Settings, SettingsError, setting_paths
from tests.lifecycle import CLERK, NEW_MOBILE, confirmed, policy, run, with_mobile

P = "P86110024070003"


@pytest.fixture(autouse=True)
def _no_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTINGS_FILE_VARIABLE, raising=False)


def test_a_section_field_is_set_by_its_nested_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYGUARD_DETECTION__ARRIVAL_GRACE_S", "42")
    monkeypatch.setenv("POLICYGUARD_CROSS_POLICY__RETENTION_DAYS", "90")
    settings = Settings()
    assert settings.detection.arrival_grace_s == 42.0
    assert settings.cross_policy.retention_days == 90.0
    assert settings.detection.retention_days == 400.0  # the other section's field of the same name is untouched


def test_no_setting_is_written_twice() -> None:
    """A section's field exists only in its section: the top level has none of their names."""
    top = {path[0] for path in (p for p, _ in setting_paths()) if len(path) == 1}
    nested = {path[1] for path in (p for p, _ in setting_paths()) if len(path) == 2}
    assert {"arrival_grace_s", "hold_deadline_days", "penalties", "shared_contact_min_ids"} <= nested
    assert top.isdisjoint(nested)


def test_penalties_given_for_one_role_keep_the_schedule_of_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYGUARD_DETECTION__PENALTIES", '{"SALES_AGENT": {"direct_cny": 300, "supervisor_cny": 150}}')
    penalties = Settings().detection.penalties
    assert penalties[ActorRole.SALES_AGENT] == Penalty(direct_cny=300, supervisor_cny=150)
    assert penalties[ActorRole.OPERATIONS_CLERK] == Penalty(direct_cny=100, supervisor_cny=50)
    assert penalties[ActorRole.BANK_TELLER] is None


def test_the_lock_point_event_types_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit between confirmation and issue is after the default lock point, not after an
    issue-only one."""
    events = confirmed(P)[:2] + [policy(P, 9, "CUSTOMER_INFO_UPDATED", 40, actor=CLERK, holder=with_mobile(NEW_MOBILE))]
    assert [a["alert_type"] for a in run(events, config=Settings().detection).alerts] == ["UNAUTHORIZED_CONTACT_EDIT"]

    monkeypatch.setenv("POLICYGUARD_DETECTION__LOCK_EVENT_TYPES", '["POLICY_ISSUED"]')
    detection = Settings().detection
    assert detection.lock_event_types == {PolicyEventType.POLICY_ISSUED}
    assert run(events, config=detection).alerts == []


def test_an_empty_or_unknown_lock_point_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POLICYGUARD_DETECTION__LOCK_EVENT_TYPES", "[]")
    assert main(["replay", "x.jsonl", "--out", "out"]) == 2
    assert capsys.readouterr().err.startswith(
        "policyguard replay: bad setting: POLICYGUARD_DETECTION__LOCK_EVENT_TYPES: Frozenset should have at least 1 item")
    monkeypatch.setenv("POLICYGUARD_DETECTION__LOCK_EVENT_TYPES", '["POLICY_ISSUD"]')
    assert main(["replay", "x.jsonl", "--out", "out"]) == 2
    assert "POLICYGUARD_DETECTION__LOCK_EVENT_TYPES (0): Input should be 'APPLICATION_SUBMITTED'" in capsys.readouterr().err


def test_a_settings_file_sets_fields_and_the_environment_overrides_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "policyguard.toml"
    file.write_text('app_id = "from-file"\ntopic_partitions = 12\n\n[detection]\narrival_grace_s = 300\n'
                    'lock_event_types = ["POLICY_ISSUED"]\n\n[detection.penalties.SALES_AGENT]\n'
                    "direct_cny = 500\nsupervisor_cny = 250\n", encoding="utf-8")
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, str(file))
    monkeypatch.setenv("POLICYGUARD_TOPIC_PARTITIONS", "24")
    settings = Settings()
    assert (settings.app_id, settings.topic_partitions) == ("from-file", 24)
    assert settings.detection.arrival_grace_s == 300.0
    assert settings.detection.lock_event_types == {PolicyEventType.POLICY_ISSUED}
    assert settings.detection.penalties[ActorRole.SALES_AGENT] == Penalty(direct_cny=500, supervisor_cny=250)
    monkeypatch.setenv("POLICYGUARD_DETECTION__ARRIVAL_GRACE_S", "60")  # one field of a section; the rest stay
    assert Settings().detection.arrival_grace_s == 60.0
    assert Settings().detection.lock_event_types == {PolicyEventType.POLICY_ISSUED}


def test_the_environment_of_a_child_reproduces_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "policyguard.toml"
    file.write_text('hash_secret = "s3cret"\n[detection]\nlock_event_types = ["POLICY_ISSUED"]\n'
                    "[cross_policy]\nshared_contact_min_ids = 5\n", encoding="utf-8")
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, str(file))
    parent = Settings()
    monkeypatch.delenv(SETTINGS_FILE_VARIABLE)
    for name, value in parent.as_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == parent


@pytest.mark.parametrize(("variable", "meant"), [
    ("POLICYGUARD_ARRIVAL_GRACE_S", "POLICYGUARD_DETECTION__ARRIVAL_GRACE_S"),  # renamed: named exactly
    ("POLICYGUARD_INDEX_RETENTION_DAYS", "POLICYGUARD_CROSS_POLICY__RETENTION_DAYS"),
    ("POLICYGUARD_DETECTION__ARIVAL_GRACE_S", "POLICYGUARD_DETECTION__ARRIVAL_GRACE_S"),  # misspelt: the closest
])
def test_a_variable_that_sets_nothing_is_refused_with_the_likely_name(variable: str, meant: str,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Renamed and misspelt variables would otherwise leave a compliance threshold at its default."""
    monkeypatch.setenv(variable, "60")
    assert main(["worker"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"policyguard worker: bad setting: {variable}: not a setting (did you mean {meant}?)")


def test_a_variable_that_is_not_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYGUARD_DETECTION__PENALTIES", "{SALES_AGENT: 300}")
    with pytest.raises(SettingsError) as error:
        Settings()
    assert error.value.lines == ["POLICYGUARD_DETECTION__PENALTIES: not valid JSON"]


@pytest.mark.parametrize(("content", "expected"), [
    ("[detection]\narival_grace_s = 60\n", "detection.arival_grace_s in {file}: not a setting"),
    ("topic_partitions = 'many'\n",
     "POLICYGUARD_TOPIC_PARTITIONS or topic_partitions in {file}: Input should be a valid integer, "
     "unable to parse string as an integer"),
    ("app_id = \n", "POLICYGUARD_SETTINGS_FILE={file}: not TOML: Invalid value (at line 1, column 10)"),
])
def test_a_bad_settings_file_is_one_line_naming_the_key(content: str, expected: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "policyguard.toml"
    file.write_text(content, encoding="utf-8")
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, "")  # --settings sets it; the fixture's teardown restores it
    assert main(["--settings", str(file), "replay", "x.jsonl", "--out", "out"]) == 2
    assert capsys.readouterr().err.strip() == "policyguard replay: bad setting: " + expected.format(file=file)


def test_a_missing_settings_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, "")
    assert main(["--settings", str(tmp_path / "absent.toml"), "worker"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"policyguard worker: bad setting: POLICYGUARD_SETTINGS_FILE={tmp_path / 'absent.toml'}: no such file")


def test_the_broker_and_redis_addresses_take_their_conventional_names_over_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "POLICYGUARD_KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    file = tmp_path / "policyguard.toml"
    file.write_text('kafka_bootstrap_servers = "file:9092"\nredis_url = "redis://file:6379/0"\n', encoding="utf-8")
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, str(file))
    assert (Settings().kafka_bootstrap_servers, Settings().redis_url) == ("file:9092", "redis://file:6379/0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env:9092")
    assert Settings().kafka_bootstrap_servers == "env:9092"
    monkeypatch.setenv("POLICYGUARD_KAFKA_BOOTSTRAP_SERVERS", "prefixed:9092")
    assert Settings().kafka_bootstrap_servers == "prefixed:9092"
    assert Settings().as_env()["KAFKA_BOOTSTRAP_SERVERS"] == "prefixed:9092"
