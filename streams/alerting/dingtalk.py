"""A DingTalk (钉钉) bridge for Alertmanager: webhook in, signed robot message out.

Alertmanager has native WeCom (企业微信) receivers but none for DingTalk; DingTalk's custom robots take
a JSON message at a webhook whose URL must carry a timestamp and a signature when the robot is set to
"加签": HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed with the secret, base64, URL-encoded
(DingTalk's custom-robot API). This bridge receives Alertmanager's webhook payload at
``POST /alertmanager``, renders one markdown message per notification, signs and sends it.

Only alert names, labels and the rules' annotations travel: PolicyGuard's rules never put customer
data in them, and business alerts (with their masked evidence) stay on the ``policyguard.alerts``
topic.

Whoever can POST to the bridge can post into the on-call group, so it is no open relay: every
request must carry ``Authorization: Bearer <token>`` (Alertmanager's ``http_config.authorization``),
compared in constant time; a body is refused from its ``Content-Length`` before a byte of it is read
when it is over :data:`MAX_BODY_BYTES`; and the command listens on loopback unless told otherwise.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

MAX_ALERTS_SHOWN = 10
MAX_BODY_BYTES = 1_048_576
"""Largest webhook body taken: Alertmanager's notifications are a few KiB (it truncates long groups)."""
READ_TIMEOUT_S = 30.0
"""A client that sends nothing for this long loses its connection (and its thread)."""
SEVERITY_ZH = {"critical": "紧急", "high": "高", "warning": "警告"}


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a request: base64(HMAC-SHA256(secret, "timestamp\\nsecret")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def signed_url(webhook: str, secret: str | None, timestamp_ms: int) -> str:
    if not secret:
        return webhook
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def message(payload: dict[str, Any]) -> dict[str, Any]:
    """One markdown message for one Alertmanager notification (a group of alerts)."""
    alerts = payload.get("alerts") or []
    status = payload.get("status", "firing")
    labels = payload.get("commonLabels") or {}
    name = labels.get("alertname") or (alerts[0].get("labels", {}).get("alertname") if alerts else "PolicyGuard")
    severity = labels.get("severity", "")
    mark = "✅ 已恢复" if status == "resolved" else f"🚨 {SEVERITY_ZH.get(severity, severity) or '告警'}"
    lines = [f"### {mark} {name}", ""]
    for alert in alerts[:MAX_ALERTS_SHOWN]:
        annotations = alert.get("annotations") or {}
        where = ", ".join(f"{k}={v}" for k, v in sorted((alert.get("labels") or {}).items())
                          if k not in ("alertname", "severity"))
        lines.append(f"- **{annotations.get('summary', name)}**" + (f" ({where})" if where else ""))
        if annotations.get("description"):
            lines.append(f"  {annotations['description']}")
    if len(alerts) > MAX_ALERTS_SHOWN:
        lines.append(f"- … {len(alerts) - MAX_ALERTS_SHOWN} more")
    return {"msgtype": "markdown", "markdown": {"title": f"{name} {status}", "text": "\n".join(lines)}}


def send(webhook: str, secret: str | None, body: dict[str, Any], *, timeout_s: float = 10.0,
         clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> dict[str, Any]:
    """POST the message; DingTalk answers 200 with ``errcode`` 0 when it took it."""
    request = urllib.request.Request(signed_url(webhook, secret, clock_ms()), data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        answer = json.loads(response.read() or b"{}")
    if answer.get("errcode", 0) != 0:
        raise RuntimeError(f"DingTalk refused the message: errcode {answer.get('errcode')} {answer.get('errmsg', '')}")
    return answer


def authorized(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>`` with this token; compared in constant time, so the answer's
    timing does not tell how much of a guess was right."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def body_length(header: str | None, limit: int) -> tuple[int, int | None]:
    """(status, length) from ``Content-Length``: 200 and the length when it may be read, else the
    refusal: 411 without one (a chunked body is not taken), 400 when it is no length, 413 over ``limit``."""
    if header is None:
        return 411, None
    digits = header.strip()
    if not (digits.isascii() and digits.isdigit()):  # not int(): it takes "-1", "+1" and "1_000"
        return 400, None
    length = int(digits)
    if length > limit:
        return 413, None
    return 200, length


def serve(host: str, port: int, webhook: str, secret: str | None, *, token: str,
          max_body_bytes: int = MAX_BODY_BYTES) -> ThreadingHTTPServer:
    """The bridge's HTTP server (call ``serve_forever`` on it, or run it in a thread). ``token``:
    the bearer token every request must carry; there is no server without one."""
    if not token:
        raise ValueError("the bridge needs a bearer token: without one anybody could post to the on-call group")

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT_S

        def do_POST(self) -> None:
            if not authorized(self.headers.get("Authorization"), token):
                log.warning("refused a request without the bridge's bearer token from %s", self.client_address[0])
                self._answer(401, "Authorization: Bearer <the bridge's token> required",
                             extra={"WWW-Authenticate": 'Bearer realm="dingtalk-bridge"'})
                return
            if self.path.rstrip("/") != "/alertmanager":
                self._answer(404, "POST Alertmanager webhooks to /alertmanager")
                return
            status, length = body_length(self.headers.get("Content-Length"), max_body_bytes)
            if length is None:
                self._answer(status, f"a body of at most {max_body_bytes} bytes, with its Content-Length")
                return
            try:
                raw = self.rfile.read(length)
            except OSError:  # the client went quiet for READ_TIMEOUT_S, or away: nobody to answer
                return
            try:
                payload = json.loads(raw)
                send(webhook, secret, message(payload))
            except (ValueError, AttributeError) as exc:
                self._answer(400, f"not an Alertmanager webhook payload: {type(exc).__name__}")
                return
            except (OSError, RuntimeError) as exc:
                log.error("DingTalk did not take the notification: %s", exc)
                self._answer(502, "DingTalk did not take the notification")  # Alertmanager retries
                return
            self._answer(200, "sent")

        def _answer(self, code: int, text: str, extra: dict[str, str] | None = None) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)
