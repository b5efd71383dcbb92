"""EndorsementEvent (`endorsement-events`): 保全, the customer's own request to change data."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.enums import (
    Applicant,
    ApplicationChannel,
    CustomerSignature,
    EndorsementEventType,
    EndorsementType,
    IdVerification,
    OtpTarget,
)
from schemas.envelope import Envelope
from schemas.person import Person, PersonField
from schemas.text import Code, Identifier, OptText


class Authorization(BaseModel):
    model_config = ConfigDict(extra="allow")

    applicant: Annotated[Applicant | None, Code] = None
    customer_signature: Annotated[CustomerSignature | None, Code] = None
    id_verification: Annotated[IdVerification | None, Code] = None
    otp_verified_to: Annotated[OtpTarget | None, Code] = None
    power_of_attorney_ref: OptText = None


class Change(BaseModel):
    """One field of one party; ``old`` / ``new`` are normalised as that Person field is."""

    model_config = ConfigDict(extra="allow")

    party: str = Field(pattern=r"^(policyholder|insureds\[\d+\]|beneficiaries\[\d+\])$")
    field: PersonField
    old: Any = None
    new: Any = None

    @model_validator(mode="before")
    @classmethod
    def _lower_field(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("field"), str):
            data = {**data, "field": data["field"].strip().lower()}
        return data

    @model_validator(mode="after")
    def _normalise_values(self) -> Change:
        for side in ("old", "new"):
            value = getattr(self, side)
            if value is not None:
                parsed = Person.model_validate({self.field: value})
                setattr(self, side, getattr(parsed, self.field))
        return self

    def as_person(self, side: Literal["old", "new"] = "new") -> Person:
        """A Person carrying only this field, so field rules can judge a change's value."""
        return Person.model_validate({self.field: getattr(self, side)})


class EndorsementEvent(Envelope):
    event_type: Annotated[EndorsementEventType, Code]
    endorsement_no: Identifier
    endorsement_type: Annotated[EndorsementType | None, Code] = None
    application_channel: Annotated[ApplicationChannel | None, Code] = None
    authorization: Authorization | None = None
    changes: list[Change] = Field(default_factory=list)
