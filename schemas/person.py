"""Parties of a policy: policyholder (投保人), insureds (被保险人), beneficiaries (受益人).

Every Person field is optional at the schema level on purpose: a missing name or ID is a
*data-quality finding* (REQUIRED_FIELD_MISSING, with the party named), not an unreadable
record. Only wrong JSON types make a SCHEMA_ERROR.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from schemas.enums import Gender, IdType, Relation
from schemas.text import (
    Code,
    OptIdNumber,
    OptLandline,
    OptMobile,
    OptPersonName,
    OptText,
    code,
    text,
)

PersonField = Literal[
    "name",
    "gender",
    "birth_date",
    "id_type",
    "id_no",
    "id_valid_to",
    "mobile",
    "landline",
    "address",
    "postal_code",
]
PERSON_FIELDS: tuple[str, ...] = get_args(PersonField)
CONTACT_FIELDS = ("mobile", "landline", "address", "postal_code")

LenientDate = Annotated[
    date | str | None,
    Field(
        union_mode="left_to_right",
        description="ISO date; an unparseable value is kept as text and flagged BIRTH_DATE_INVALID",
    ),
    BeforeValidator(text),
]
ValidTo = Annotated[
    date | Literal["LONG_TERM"] | None,
    Field(union_mode="left_to_right", description="ISO date, or LONG_TERM (长期)"),
    BeforeValidator(code),
]


class Address(BaseModel):
    model_config = ConfigDict(extra="allow")

    province: OptText = None
    city: OptText = None
    district: OptText = None
    detail: OptText = None


class Person(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: OptPersonName = None
    gender: Annotated[Gender | None, Code] = None
    birth_date: LenientDate = None
    id_type: Annotated[IdType | None, Code] = None
    id_no: OptIdNumber = None
    id_valid_to: ValidTo = None
    mobile: OptMobile = None
    landline: OptLandline = None
    address: Address | None = None
    postal_code: OptText = None


class Insured(Person):
    relation_to_policyholder: Annotated[Relation | None, Code] = None


class Beneficiary(Person):
    order: int | None = Field(default=None, description="受益顺序 (1 = first order)")
    share_pct: float | None = Field(default=None, description="受益份额 in percent within its order")
    relation_to_insured: OptText = None
