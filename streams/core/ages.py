"""Birth dates and ages as the rules compare them (whole years on the event date)."""
from __future__ import annotations

from datetime import date

from schemas.person import Person


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def birth_problem(person: Person, day: date, max_age: int) -> str | None:
    """Why ``birth_date`` cannot be believed, or None (also None when it is absent)."""
    birth = person.birth_date
    if birth is None:
        return None
    if not isinstance(birth, date):
        return "不是有效日期"
    if birth > day:
        return "晚于业务发生日期"
    if age_on(birth, day) > max_age:
        return f"对应年龄超过{max_age}岁"
    return None


def credible_birth(person: Person, day: date, max_age: int) -> date | None:
    """The birth date when comparisons against it make sense (BIRTH_DATE_INVALID did not fire)."""
    birth = person.birth_date
    if isinstance(birth, date) and birth_problem(person, day, max_age) is None:
        return birth
    return None
