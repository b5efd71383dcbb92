"""The DingTalk bridge against a local HTTP server standing in for DingTalk: what it sends, signed."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
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

SECRET = "SEC0123456789abcdef"
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
            def do_POST(self) -> None:  # noqa: N802
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
    server = serve("127.0.0.1", 0, dingtalk.url, SECRET)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
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
