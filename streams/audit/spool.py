"""The audit's spool of cross-policy observations: JSON Lines, one observation a line.

Pass 1 appends every policy's observation here and pass 2 reads them all back, possibly in a later
process (``--resume``). It was a pickle, and unpickling runs whatever code the file names: anybody
who could write into the output folder could have run code as the auditor. JSON carries data only,
and each line is validated, strictly, into an :class:`Observation` (keyed hashes and masked values,
as the worker computed them), so a spool that is not one is refused, naming the line.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from pydantic import TypeAdapter, ValidationError

from streams.core.crosspolicy import Observation

_OBSERVATION: TypeAdapter[Observation] = TypeAdapter(Observation)


class SpoolError(ValueError):
    """A spool line that is not an observation: the file was not written by this release's audit."""


def write(handle: BinaryIO, observations: Iterable[Observation]) -> None:
    """Append ``observations`` to the spool, one JSON line each."""
    handle.write(b"".join(_OBSERVATION.dump_json(observation) + b"\n" for observation in observations))


def read(path: Path) -> Iterator[Observation]:
    """The spooled observations in the order written; :class:`SpoolError` at the first line that is
    not one (its content is not echoed: it is not ours to print)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                yield _OBSERVATION.validate_json(line, strict=True)
            except ValidationError as exc:
                problem = exc.errors(include_url=False, include_input=False, include_context=False)[0]["msg"]
                raise SpoolError(f"{path} line {number}: not an observation spooled by policyguard audit "
                                 f"({problem})") from None
