"""Where a raw record came from: a Kafka position live, a file line in replay."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Stream(StrEnum):
    """The two input streams; decides which model a record must satisfy."""

    POLICY = "policy"
    ENDORSEMENT = "endorsement"


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    file: str | None = None
    line: int | None = None
    timestamp: datetime | None = None
    """The Kafka record's timestamp: the time its outputs are stamped with (``validated_at``,
    ``quarantined_at``, ``detected_at``), so a re-delivered record gives byte-identical outputs."""

    @property
    def where(self) -> str:
        """The record's position, for a log line: never anything of its content."""
        if self.file is not None:
            return f"{self.file}:{self.line}"
        return f"{self.topic}[{self.partition}]@{self.offset}"
