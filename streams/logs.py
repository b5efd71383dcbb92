"""Log lines for people (text) or for a log pipeline (one JSON object per line).

The worker owns the logging set-up: Faust's own (coloured, and re-done at start) is turned
off, so ``POLICYGUARD_LOG_FORMAT`` decides every line, the client libraries' included.
Nothing logged carries customer data in clear (the core logs only ids of positions and
exception classes), so the JSON needs no masking of its own.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


CLIENT_LOGGERS = ("aiokafka", "kafka", "faust", "mode")


def setup_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka builds a debug record per sent message when its logger inherits DEBUG (README
    # "How it works", throughput): the client libraries log at INFO at the most verbose.
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.INFO))
