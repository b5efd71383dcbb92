"""``policyguard replay`` over the shared samples and over bad input."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.core.outputs import REPLAY_FILES

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_samples_replay_to_the_five_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(SAMPLES / "endorsement-events.jsonl"), str(SAMPLES / "policy-events.jsonl"),
                 "--out", str(tmp_path)])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPLAY_FILES.values())
    quarantine = {q["event_id"]: q for q in read(tmp_path / "quarantine.jsonl")}
    assert {k: q["reason"] for k, q in quarantine.items()} == {
        "evt-P86532824070004-01": "RULE_ERROR", "evt-P86110024070003-03": "UNAUTHORIZED_EDIT"}
    checksum = quarantine["evt-P86532824070004-01"]
    assert [(f["rule"], f["party"], f["field"]) for f in checksum["findings"]] == [
        ("ID_CHECKSUM", "policyholder", "id_no")]
    assert checksum["file"].endswith("policy-events.jsonl") and checksum["line"] == 10
    edit = quarantine["evt-P86110024070003-03"]
    assert [(f["rule"], f["party"], f["field"]) for f in edit["findings"]] == [
        ("UNAUTHORIZED_CONTACT_EDIT", "policyholder", "mobile"), ("UNAUTHORIZED_CONTACT_EDIT", "insureds[0]", "mobile")]
    alert, = read(tmp_path / "alerts.jsonl")
    assert (alert["alert_type"], alert["policy_no"], alert["responsible"], alert["penalty"]) == (
        "UNAUTHORIZED_CONTACT_EDIT", "P86110024070003",
        {"user_id": "OP0002", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100"},
        {"direct_cny": 100, "supervisor_cny": 50})
    assert [(c["action"], c["reasons"]) for c in read(tmp_path / "commission.jsonl")] == [
        ("HOLD", ["ID_CHECKSUM"]), ("RELEASE", ["ID_CHECKSUM"])]
    clean = {e["event_id"]: e for e in read(tmp_path / "policy-events.clean.jsonl")}
    assert len(clean) == 10
    online = clean["evt-P86650124080005-01"]
    assert online["policyholder"]["mobile"] == "13899152047"
    assert online["insureds"][0]["name"] == "阿依古丽·艾合买提"
    assert clean["evt-P86440324030002-04"]["endorsement_no"] == "E2024061000218"
    assert len(read(tmp_path / "endorsement-events.clean.jsonl")) == 3
    assert "replayed 15 records" in capsys.readouterr().out


def test_samples_with_the_roster_add_the_staff_phone_alert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The samples' expected outcome: -03 also puts agent A0107's roster mobile on the customer."""
    code = main(["replay", str(SAMPLES / "endorsement-events.jsonl"), str(SAMPLES / "policy-events.jsonl"),
                 "--roster", str(SAMPLES / "roster.csv"), "--out", str(tmp_path)])
    assert code == 0
    alerts = {a["alert_type"]: a for a in read(tmp_path / "alerts.jsonl")}
    assert set(alerts) == {"UNAUTHORIZED_CONTACT_EDIT", "STAFF_PHONE_AS_CUSTOMER"}
    staff = alerts["STAFF_PHONE_AS_CUSTOMER"]
    assert (staff["policy_no"], staff["severity"], staff["responsible"]["user_id"], staff["source_event_ids"]) == (
        "P86110024070003", "CRITICAL", "A0107", ["evt-P86110024070003-03"])
    assert staff["evidence"]["staff"] == {"user_id": "A0107", "role": "SALES_AGENT", "mobile": "139****2740"}
    out = capsys.readouterr().out
    assert "roster" in out and "6 mobiles of 6 staff" in out and "13911862740" not in out


def test_an_unusable_roster_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("staff,phone\nA1,13911862740\n", encoding="utf-8")
    code = main(["replay", str(SAMPLES / "policy-events.jsonl"), "--roster", str(roster), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing: user_id, role, mobile" in err[0] and "13911862740" not in err[0]
    code = main(["replay", str(SAMPLES / "policy-events.jsonl"), "--roster", str(tmp_path / "none.csv"),
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "none.csv" in capsys.readouterr().err


def test_bad_lines_are_quarantined_with_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "mixed.jsonl"
    good = (SAMPLES / "policy-events.jsonl").read_text(encoding="utf-8").splitlines()[0]
    source.write_bytes(b"\n".join([b"not json", b"", good.encode(), "{\"a\": 1}".encode("utf-16")]) + b"\n")
    assert main(["replay", str(source), "--out", str(tmp_path / "out")]) == 0
    quarantine = read(tmp_path / "out" / "quarantine.jsonl")
    assert [(q["line"], q["reason"], q["raw_encoding"]) for q in quarantine] == [
        (1, "DECODE_ERROR", "utf-8"), (4, "DECODE_ERROR", "base64")]
    assert len(read(tmp_path / "out" / "policy-events.clean.jsonl")) == 1


def test_missing_file_is_a_clear_error_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_directory_as_input_and_a_file_as_out_are_named_with_why(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    assert main(["replay", str(tmp_path), "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is a directory, not a JSON Lines file" in err
    assert f"--out {taken} exists and is not a directory" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert taken.read_text() == "mine"


def test_the_summary_adds_up_and_names_the_duplicates_it_skipped(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    line = (SAMPLES / "policy-events.jsonl").read_text(encoding="utf-8").splitlines()[0]
    source = tmp_path / "twice.jsonl"
    source.write_text(f"{line}\n{line}\n", encoding="utf-8")
    assert main(["replay", str(source), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "replayed 2 records from 1 file(s): clean 1, clean_with_warnings 0, quarantined 0, duplicates skipped 1" in out


def test_a_decode_error_names_its_position_once(tmp_path: Path) -> None:
    source = tmp_path / "cut.jsonl"
    source.write_text('{"event_id": "cut\n', encoding="utf-8")
    assert main(["replay", str(source), "--out", str(tmp_path / "out")]) == 0
    record, = read(tmp_path / "out" / "quarantine.jsonl")
    assert record["errors"] == ["not valid JSON: Unterminated string starting at (line 1, column 14)"]


@pytest.mark.parametrize("command", [["worker"], ["replay", "x.jsonl", "--out", "out"], ["demo"]])
def test_a_bad_setting_is_one_line_naming_the_variable(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POLICYGUARD_SESSION_TIMEOUT_S", "soon-ish")
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"policyguard {command[0]}: bad setting: POLICYGUARD_SESSION_TIMEOUT_S: Input should be a valid "
                   "number, unable to parse string as a number")
    assert "soon-ish" not in err


@pytest.mark.parametrize("command", [["worker"], ["replay", "x.jsonl", "--out", "out"], ["roster", "load", "r.csv"],
                                     ["customer"]])
def test_a_redis_url_without_its_scheme_is_one_line_not_a_traceback(command: list[str],
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"policyguard {command[0]}: bad setting: REDIS_URL: must start with redis://, rediss:// or "
                   "unix:// (e.g. redis://localhost:6379/0)")


def test_every_command_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's --help describes that command: its usage line names it and its text is its
    own (argparse's usage line alone would name the command for any text)."""
    from streams.cli.main import parser

    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"demo", "worker", "replay", "produce", "schemas", "roster", "customer", "audit"} <= set(commands)
    helps = {}
    for command, sub in commands.items():
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: policyguard {command}"), out[:80]
        description = sub.description or ""
        assert len(description) > 40 and " ".join(description.split())[:40] in " ".join(out.split()), command
        helps[command] = out
    assert len(set(helps.values())) == len(helps)  # no two commands share a text


def test_worker_help_lists_every_setting_with_its_variable_and_meaning(capsys: pytest.CaptureFixture[str]) -> None:
    from streams.settings import env_name, setting_paths

    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    lines = capsys.readouterr().out.splitlines()
    assert len(setting_paths()) > 40  # the sections' fields are listed one by one
    for path, _ in setting_paths():
        line, = (line for line in lines if line.strip().startswith(f"{env_name(*path)} (default: "))
        assert line.split(")", 1)[1].strip(), f"{env_name(*path)} has no meaning in --help"


def test_every_argument_of_every_command_has_help() -> None:
    from streams.cli.main import parser

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.dest} has no help"

