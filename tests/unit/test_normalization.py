"""docs/domain.md §1 normalisation, as the clean record reports it."""
from __future__ import annotations

import pytest

from schemas import Person


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("阿依古丽•艾合买提", "阿依古丽·艾合买提"),
        ("买买提江.吐尔逊", "买买提江·吐尔逊"),
        ("买买提江・吐尔逊", "买买提江·吐尔逊"),
        ("买买提江‧吐尔逊", "买买提江·吐尔逊"),
        (" 陈 晓明 ", "陈晓明"),
        ("CHAN  TAI\tMAN", "CHAN TAI MAN"),
    ],
)
def test_names(raw: str, name: str) -> None:
    assert Person(name=raw).name == name


def test_id_and_codes() -> None:
    person = Person.model_validate({"id_no": " 11010519491231002x ", "gender": " f ", "id_type": "resident_id",
                                    "id_valid_to": "long_term", "postal_code": "１００１０１"})
    assert (person.id_no, person.gender, person.id_type, person.id_valid_to, person.postal_code) == (
        "11010519491231002X", "F", "RESIDENT_ID", "LONG_TERM", "100101")


def test_blank_means_absent_and_bad_dates_are_kept_as_text() -> None:
    person = Person.model_validate({"name": "  ", "birth_date": "1985-02-30", "landline": "(0571) 8765 2093"})
    assert person.name is None
    assert person.birth_date == "1985-02-30"
    assert person.landline == "05718765 2093".replace(" ", "")
