"""``policyguard customer`` on a real redis-server: the ID number never on the command line, the
operator the OS account (``--operator`` only a note beside it), and an access trail trimmed by age,
never by count."""
from __future__ import annotations

import io
import json
import os
import pwd
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from streams.cli.main import main
from tests.integration.conftest import Servers
from tests.oracle import resident_id

pytestmark = pytest.mark.integration

ID_NO = resident_id("110101", "1980-01-01", "M", 7)
OS_USER = pwd.getpwuid(os.getuid()).pw_name


class Terminal(io.StringIO):
    """Standard input that is a terminal (which ``policyguard customer`` must not read in clear)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def prefix(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh index prefix, and the environment ``policyguard customer`` needs to reach it."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("REDIS_URL", servers.redis_url)
    monkeypatch.setenv("POLICYGUARD_REDIS_PREFIX", prefix)
    monkeypatch.setenv("POLICYGUARD_HASH_SECRET", "integration-test-secret")
    yield prefix
    client = redis.Redis.from_url(servers.redis_url)
    client.delete(f"{prefix}:audit")
    client.close()


@pytest.fixture
def client(servers: Servers) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(servers.redis_url)
    yield connection
    connection.close()


def trail(client: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    """The access trail, newest first."""
    return [json.loads(item) for item in client.lrange(f"{prefix}:audit", 0, -1)]


def entry(days_ago: float, operator: str = "someone") -> str:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return json.dumps({"at": at.isoformat(), "operator": operator, "id_no": "110101********0071", "person": "p",
                       "policies": 0})


def test_an_id_number_on_the_command_line_is_refused_before_any_look_up(
        prefix: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["customer", ID_NO]) == 2
    captured = capsys.readouterr()
    assert "standard input" in captured.err and "ps" in captured.err and "history" in captured.err
    assert ID_NO not in captured.err + captured.out
    assert trail(client, prefix) == []


def test_the_id_number_comes_on_standard_input_and_the_os_user_is_recorded(
        prefix: str, client: redis.Redis, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "somebody-else")  # what getpass.getuser() would believe; the uid says otherwise
    monkeypatch.setenv("LOGNAME", "somebody-else")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ID_NO}\n"))
    assert main(["customer", "--operator", "compliance-7 case 2025-114", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["id_no"] != ID_NO and view["policies"] == []
    (recorded,) = trail(client, prefix)
    assert recorded["operator"] == OS_USER and recorded["operator_note"] == "compliance-7 case 2025-114"
    assert ID_NO not in json.dumps(recorded)


def test_at_a_terminal_the_id_number_is_asked_for_without_echo(
        prefix: str, client: redis.Redis, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def getpass(prompt: str = "Password: ", stream: Any = None) -> str:
        prompts.append(prompt)
        return ID_NO

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert main(["customer"]) == 0
    assert len(prompts) == 1 and "ID" in prompts[0]
    assert ID_NO not in capsys.readouterr().out
    (recorded,) = trail(client, prefix)
    assert recorded["operator"] == OS_USER and "operator_note" not in recorded


def test_no_id_number_or_a_bad_note_is_refused(prefix: str, client: redis.Redis,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["customer"]) == 2
    assert "no ID number" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ID_NO}\n"))
    assert main(["customer", "--operator", "alice\nat=forged"]) == 2  # a note must not forge a trail or log line
    assert "--operator" in capsys.readouterr().err
    assert trail(client, prefix) == []


def test_the_access_trail_is_trimmed_by_age_never_by_count(prefix: str, client: redis.Redis,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """100,000 recent look-ups (the old count cap) stay; only what is older than three years goes."""
    key = f"{prefix}:audit"
    recent = entry(1)
    for _ in range(10):
        client.rpush(key, *[recent] * 10_000)  # newest first, as LPUSH leaves them
    client.rpush(key, entry(1094, "kept"), entry(1096, "expired"), entry(1100, "expired"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ID_NO}\n"))
    assert main(["customer"]) == 0
    assert client.llen(key) == 100_000 + 1 + 1
    assert json.loads(client.lindex(key, -1))["operator"] == "kept"
    assert json.loads(client.lindex(key, 0))["operator"] == OS_USER
    assert client.ttl(key) == -1  # the trail itself never expires


def test_the_retention_of_the_access_trail_is_a_setting(prefix: str, client: redis.Redis,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"{prefix}:audit"
    client.rpush(key, entry(29, "kept"), entry(31, "expired"))
    monkeypatch.setenv("POLICYGUARD_ACCESS_TRAIL_RETENTION_DAYS", "30")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ID_NO}\n"))
    assert main(["customer"]) == 0
    assert [item["operator"] for item in trail(client, prefix)] == [OS_USER, "kept"]
