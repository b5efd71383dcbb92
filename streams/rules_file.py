"""Reading the rules file named by settings or ``--rules`` (the I/O around the pure parser)."""
from __future__ import annotations

from pathlib import Path

from streams.core.rules_config import RulesConfigError, parse_rules_config
from streams.core.ruleset import RuleSet


def load_ruleset(path: str | Path | None) -> RuleSet:
    """The contract's defaults without a file; a clear :class:`RulesConfigError` for a bad one."""
    if path is None or str(path) == "":
        return RuleSet.default()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesConfigError(f"cannot read rules file {path}: {exc}") from None
    return parse_rules_config(text, source=str(path))
