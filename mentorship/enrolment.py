"""The request that starts a relationship, checked before anything is started."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mentorship.events import Kind
from mentorship.limits import ID_PATTERN, MAX_SHORT
from mentorship.participants import Participant
from mentorship.policy import Policy

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class StartRelationship(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    program: str = Field(pattern=ID_PATTERN, max_length=64)
    kind: Kind = Kind.TRADITIONAL
    mentor: Participant
    mentee: Participant
    operator: Participant
    end_date: date | None = None
    topic: str = Field(default="", max_length=MAX_SHORT)
    policy: Policy = Field(default_factory=Policy)
    relationship_id: str | None = Field(default=None, pattern=ID_PATTERN, max_length=200)

    @model_validator(mode="after")
    def _two_different_people(self) -> StartRelationship:
        if self.mentor.id == self.mentee.id:
            raise ValueError(
                f"mentor and mentee are the same person ('{self.mentor.id}'); "
                "pair two different people"
            )
        if self.mentor.email == self.mentee.email:
            raise ValueError(
                f"mentor and mentee share the email {self.mentor.email}; "
                "each needs their own address"
            )
        if self.kind is Kind.SITUATIONAL and self.end_date is None:
            raise ValueError("a situational relationship needs an end_date; add one")
        return self

    @property
    def workflow_id(self) -> str:
        """One relationship per program, mentee and mentor, unless an id is given."""
        if self.relationship_id:
            return self.relationship_id
        raw = f"{self.program}.{self.mentee.id}.{self.mentor.id}"
        return _UNSAFE.sub("-", raw)


def check_start(request: StartRelationship, now: datetime) -> None:
    """What depends on the date: the end must lie ahead. Raises ValueError naming the field."""
    if request.end_date is not None and request.end_date <= now.date():
        raise ValueError(
            f"end_date: {request.end_date.isoformat()} is not in the future; "
            "give a date after today"
        )
