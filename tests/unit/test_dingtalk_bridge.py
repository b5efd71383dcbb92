"""The DingTalk bridge against a local HTTP server standing in for DingTalk: what it sends, signed;
and what it refuses: requests without Alertmanager's bearer token, oversized bodies, starting
without a token, listening beyond loopback unless told to."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streams.alerting.dingtalk import serve
from streams.cli.main import main, parser

SECRET = "SEC0123456789abcdef"
TOKEN = "bridge-token-0123456789abcdef"
BEARER = f"Bearer {TOKEN}"
ONE_MIB = 1_048_576
NOTIFICATION = {
    "version": "4", "status": "firing", "receiver": "on-call",
    "commonLabels": {"alertname": "PolicyGuardUnauthorizedContactEdit", "severity": "critical"},
    "alerts": [
        {"status": "firing", "labels": {"alertname": "PolicyGuardUnauthorizedContactEdit", "severity": "critical",
                                        "channel": "BANCASSURANCE"},
         "annotations": {"summary": "Customer contact data changed without the customer's authorization",
                         "description": "Operations: restore the data the customer confirmed."}},
        {"status": "firing", "labels": {"alertname": "PolicyGuardUnauthorizedContactEdit", "severity": "critical",
                                        "channel": "AGENCY"},
         "annotations": {"summary": "Customer contact data changed without the customer's authorization"}},
    ],
}


class FakeDingTalk:
    """Records every request and answers as DingTalk does (``errcode`` 0, or the one set)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, list[str]], dict[str, Any]]] = []
        self.errcode = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query), body))
                answer = json.dumps({"errcode": fake.errcode, "errmsg": "ok" if not fake.errcode else "sign not match"})
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/robot/send?access_token=tok"


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalk]:
    fake = FakeDingTalk()
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def bridge(dingtalk: FakeDingTalk) -> Iterator[str]:
    server = serve("127.0.0.1", 0, dingtalk.url, SECRET, token=TOKEN)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def post(url: str, body: bytes, authorization: str | None = BEARER) -> int:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_notification_arrives_as_one_signed_markdown_message(bridge: str, dingtalk: FakeDingTalk) -> None:
    before = int(time.time() * 1000)
    assert post(f"{bridge}/alertmanager", json.dumps(NOTIFICATION).encode()) == 200
    ((query, body),) = dingtalk.requests
    assert query["access_token"] == ["tok"]
    timestamp = int(query["timestamp"][0])
    assert before <= timestamp <= int(time.time() * 1000)
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest())
    assert query["sign"] == [expected.decode()]  # parse_qs undoes the URL encoding
    assert body["msgtype"] == "markdown"
    text = body["markdown"]["text"]
    assert "紧急" in text and "PolicyGuardUnauthorizedContactEdit" in text
    assert "channel=BANCASSURANCE" in text and "channel=AGENCY" in text and "restore the data" in text


def test_dingtalk_refusing_is_a_502_so_alertmanager_retries(bridge: str, dingtalk: FakeDingTalk) -> None:
    dingtalk.errcode = 310000
    assert post(f"{bridge}/alertmanager", json.dumps(NOTIFICATION).encode()) == 502


def test_what_is_not_a_notification_is_refused(bridge: str, dingtalk: FakeDingTalk) -> None:
    assert post(f"{bridge}/alertmanager", b"not json") == 400
    assert post(f"{bridge}/elsewhere", b"{}") == 404
    assert dingtalk.requests == []


def test_a_resolved_notification_says_so(bridge: str, dingtalk: FakeDingTalk) -> None:
    assert post(f"{bridge}/alertmanager", json.dumps({**NOTIFICATION, "status": "resolved"}).encode()) == 200
    assert "已恢复" in dingtalk.requests[0][1]["markdown"]["text"]


def raw_status(base: str, head: str) -> int:
    """The status line's code for a request sent as raw bytes (headers only, no body follows)."""
    parts = urllib.parse.urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(head.encode())
        status = connection.makefile("rb").readline()
    return int(status.split()[1])


def test_a_request_without_the_token_or_with_another_is_refused(bridge: str, dingtalk: FakeDingTalk) -> None:
    body = json.dumps(NOTIFICATION).encode()
    assert post(f"{bridge}/alertmanager", body, authorization=None) == 401
    assert post(f"{bridge}/alertmanager", body, authorization="Bearer not-the-bridge-token-at-all") == 401
    assert post(f"{bridge}/alertmanager", body, authorization=f"Basic {TOKEN}") == 401
    assert post(f"{bridge}/alertmanager", body, authorization=f"Bearer {TOKEN}x") == 401
    assert post(f"{bridge}/elsewhere", b"{}", authorization=None) == 401  # nothing answered to strangers
    assert dingtalk.requests == []
    assert post(f"{bridge}/alertmanager", body, authorization=f"bearer {TOKEN}") == 200  # the scheme is case-blind


def test_a_body_over_the_limit_is_refused_from_its_length_before_reading(bridge: str, dingtalk: FakeDingTalk) -> None:
    head = (f"POST /alertmanager HTTP/1.1\r\nHost: bridge\r\nAuthorization: {BEARER}\r\n"
            "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n")
    # No body is sent: a bridge that tried to read the announced bytes would wait here, not answer.
    assert raw_status(bridge, head.format(length=ONE_MIB + 1)) == 413
    assert raw_status(bridge, head.format(length=-1)) == 400
    assert raw_status(bridge, head.replace("Content-Length: {length}\r\n", "")) == 411
    assert dingtalk.requests == []


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The bridge command's server addresses; ``serve_forever`` returns at once instead of serving."""
    addresses: list[tuple[str, int]] = []
    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever",
                        lambda server, *_: addresses.append(server.server_address[:2]))
    monkeypatch.setenv("POLICYGUARD_DINGTALK_WEBHOOK", "http://127.0.0.1:9/robot/send?access_token=tok")
    return addresses


def test_the_bridge_does_not_start_without_a_token(bound: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("POLICYGUARD_DINGTALK_BRIDGE_TOKEN", raising=False)
    assert main(["dingtalk-bridge", "--listen", "127.0.0.1:0"]) == 2
    assert "POLICYGUARD_DINGTALK_BRIDGE_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("POLICYGUARD_DINGTALK_BRIDGE_TOKEN", "guessable")
    assert main(["dingtalk-bridge", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "POLICYGUARD_DINGTALK_BRIDGE_TOKEN is shorter than 16 characters" in err and "guessable" not in err
    assert bound == []


def test_the_bridge_listens_on_loopback_unless_told_otherwise(bound: list[tuple[str, int]],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYGUARD_DINGTALK_BRIDGE_TOKEN", TOKEN)
    assert parser().parse_args(["dingtalk-bridge"]).listen == "127.0.0.1:9099"
    assert main(["dingtalk-bridge", "--listen", ":0"]) == 0  # a port alone: still loopback
    assert main(["dingtalk-bridge", "--listen", "0.0.0.0:0"]) == 0  # every interface only when asked
    assert [host for host, _ in bound] == ["127.0.0.1", "0.0.0.0"]
