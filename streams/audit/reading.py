"""Reading the book: JSON Lines and CSV exports as one stream of rows, with byte progress.

Each row keeps its file and line for the findings and the bad-row list. Nothing is held beyond
the row being read, so a file of any size streams.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.audit.csv_format import check_header


@dataclass(frozen=True, slots=True)
class Row:
    file: str
    line: int
    raw: bytes | None = None
    """a JSON Lines row as it is"""
    fields: dict[str, Any] | None = None
    """a CSV row by column name"""
    problem: str | None = None
    """why the row cannot be judged at all (a CSV row with missing or extra cells)"""


class Progress:
    """Bytes read so far over the inputs' total: the audit's ETA."""

    def __init__(self, files: list[Path]) -> None:
        self.total = sum(path.stat().st_size for path in files)
        self.read = 0


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def rows(files: list[Path], progress: Progress) -> Iterator[Row]:
    for path in files:
        yield from (_csv_rows if is_csv(path) else _jsonl_rows)(path, progress)


def _jsonl_rows(path: Path, progress: Progress) -> Iterator[Row]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            progress.read += len(line)
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield Row(str(path), number, raw=raw)


def _csv_rows(path: Path, progress: Progress) -> Iterator[Row]:
    with path.open("rb") as handle:
        def lines() -> Iterator[str]:
            for line in handle:
                progress.read += len(line)
                yield line.decode("utf-8-sig", errors="replace")

        reader = csv.reader(lines())
        header = next(reader, None)
        check_header(header)
        if header is None:
            raise ValueError("check_header accepted a file without a header")
        width = len(header)
        for cells in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != width:
                yield Row(str(path), number, problem=f"{len(cells)} cells where the header has {width}")
            elif any("\ufffd" in cell for cell in cells):
                yield Row(str(path), number, problem="not UTF-8 text")
            else:
                yield Row(str(path), number, fields=dict(zip(header, cells, strict=True)))


def describe(path: Path) -> str:
    return f"{path} ({'CSV' if is_csv(path) else 'JSON Lines'})"


__all__ = ["Progress", "Row", "describe", "rows"]
