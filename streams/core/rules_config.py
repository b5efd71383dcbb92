"""A deployment's rules file (TOML): switch rules off, change severities, per channel, tune thresholds.

```toml
[rules.ADDRESS_VAGUE]
severity = "ERROR"              # ERROR, WARNING or OFF

[rules.POLICYHOLDER_MINOR.channels]
BANCASSURANCE = "ERROR"         # only for this channel

[thresholds]
max_age_years = 110
placeholder_names = ["客户", "测试", "test"]
```

Errors name the line, so a worker refuses to start with a message an operator can act on.
"""
from __future__ import annotations

import re
import tomllib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.enums import Channel, Severity
from streams.core.rules import REGISTRY
from streams.core.ruleset import RuleSet
from streams.core.thresholds import Thresholds

SeverityChoice = Literal["ERROR", "WARNING", "OFF"]


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: SeverityChoice | None = None
    channels: dict[Channel, SeverityChoice] = Field(default_factory=dict)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)


class RulesConfigError(ValueError):
    pass


def _severity(choice: SeverityChoice) -> Severity | None:
    return None if choice == "OFF" else Severity(choice)


def _line_of(text: str, *keys: str) -> int | None:
    """The line of the innermost ``keys`` path: each key is searched from the previous one's line."""
    lines = text.splitlines()
    start, found = 0, None
    for key in keys:
        pattern = re.compile(rf"(^|[\s.\[\"']){re.escape(key)}([\s.\]\"'=]|$)")
        for number in range(start, len(lines)):
            if pattern.search(lines[number].split("#", 1)[0]):
                start, found = number, number + 1
                break
    return found


def parse_rules_config(text: str, source: str = "rules file") -> RuleSet:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = RulesFile.model_validate(document)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        path = [str(part) for part in error["loc"]]
        line = _line_of(text, *path)
        where = f", line {line}" if line else ""
        raise RulesConfigError(f"{source}{where}: {'.'.join(path)}: {error['msg']}") from None
    for rule_id in config.rules:
        if rule_id not in REGISTRY:
            line = _line_of(text, "rules", rule_id)
            where = f", line {line}" if line else ""
            raise RulesConfigError(
                f"{source}{where}: unknown rule id {rule_id!r}; known rules: {', '.join(sorted(REGISTRY))}"
            )
    return RuleSet.configured(
        severities={rid: _severity(o.severity) for rid, o in config.rules.items() if o.severity is not None},
        by_channel={
            rid: {channel.value: _severity(choice) for channel, choice in o.channels.items()}
            for rid, o in config.rules.items()
            if o.channels
        },
        thresholds=config.thresholds,
    )
