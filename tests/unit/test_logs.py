"""JSON log lines: one object per line, exceptions included, Chinese kept readable."""
from __future__ import annotations

import json
import logging

from streams.logs import JsonFormatter


def test_a_record_is_one_json_object_with_its_exception() -> None:
    try:
        raise KeyError("slots")
    except KeyError:
        record = logging.LogRecord("policyguard.core", logging.ERROR, __file__, 1, "stage %s failed: %s",
                                   ("detect", "KeyError"), exc_info=True)
        record.exc_info = __import__("sys").exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line.replace("\\n", "")
    document = json.loads(line)
    assert document["level"] == "ERROR" and document["logger"] == "policyguard.core"
    assert document["message"] == "stage detect failed: KeyError"
    assert document["exception"].startswith("Traceback") and "KeyError: 'slots'" in document["exception"]
    assert document["time"].endswith("+00:00")


def test_non_ascii_stays_readable() -> None:
    record = logging.LogRecord("policyguard", logging.INFO, __file__, 1, "保全 %s", ("已处理",), None)
    assert "保全 已处理" in JsonFormatter().format(record)
