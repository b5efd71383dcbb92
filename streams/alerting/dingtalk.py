"""A DingTalk (钉钉) bridge for Alertmanager: webhook in, signed robot message out.

Alertmanager has native WeCom (企业微信) receivers but none for DingTalk; DingTalk's custom robots take
a JSON message at a webhook whose URL must carry a timestamp and a signature when the robot is set to
"加签": HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed with the secret, base64, URL-encoded
(DingTalk's custom-robot API). This bridge receives Alertmanager's webhook payload at
``POST /alertmanager``, renders one markdown message per notification, signs and sends it.

Only alert names, labels and the rules' annotations travel: PolicyGuard's rules never put customer
data in them, and business alerts (with their masked evidence) stay on the ``policyguard.alerts``
topic.
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


def serve(host: str, port: int, webhook: str, secret: str | None) -> ThreadingHTTPServer:
    """The bridge's HTTP server (call ``serve_forever`` on it, or run it in a thread)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            if self.path.rstrip("/") != "/alertmanager":
                self._answer(404, "POST Alertmanager webhooks to /alertmanager")
                return
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                send(webhook, secret, message(payload))
            except (ValueError, AttributeError) as exc:
                self._answer(400, f"not an Alertmanager webhook payload: {type(exc).__name__}")
                return
            except (OSError, RuntimeError) as exc:
                log.error("DingTalk did not take the notification: %s", exc)
                self._answer(502, "DingTalk did not take the notification")  # Alertmanager retries
                return
            self._answer(200, "sent")

        def _answer(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)
