"""Who takes part in a relationship, and in what role."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mentorship.limits import ID_PATTERN, MAX_NAME
from mentorship.stored import is_stored

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"
    OPERATOR = "operator"
    SYSTEM = "system"


class Channel(StrEnum):
    """How a person prefers to be reached; the program falls back to the outbox."""

    OUTBOX = "outbox"
    EMAIL = "email"
    WEBHOOK = "webhook"


class Participant(BaseModel):
    """A mentor, a mentee or a program operator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN, max_length=64, description="stable id, e.g. an HR id")
    name: str = Field(min_length=1, max_length=MAX_NAME)
    email: str = Field(max_length=254)
    channel: Channel = Channel.OUTBOX
    webhook_url: HttpUrl | None = None
    timezone: str = "UTC"

    @field_validator("email")
    @classmethod
    def _email_is_an_address(cls, value: str, info: ValidationInfo) -> str:
        if is_stored(info):
            return value
        if not _EMAIL.match(value):
            raise ValueError(f"'{value}' is not an email address; use the form name@example.org")
        return value.lower()

    @field_validator("name")
    @classmethod
    def _name_is_not_blank(cls, value: str, info: ValidationInfo) -> str:
        if is_stored(info):
            return value
        if not value.strip():
            raise ValueError("name is blank; give the person's display name")
        return value.strip()

    @model_validator(mode="after")
    def _webhook_needs_url(self, info: ValidationInfo) -> Participant:
        if not is_stored(info) and self.channel is Channel.WEBHOOK and self.webhook_url is None:
            raise ValueError("channel is 'webhook' but webhook_url is missing; add the URL")
        return self


class Actor(BaseModel):
    """Who did something: a party of the relationship, the operator, or the lifecycle itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    id: str = Field(default="system", max_length=64)
    # v0.5: the operator who entered a participant's action for them (at the CLI). Left out
    # while unset, so every actor recorded before it reads and hashes as it was.
    via: str | None = Field(default=None, max_length=64, exclude_if=lambda v: v is None)

    def __str__(self) -> str:
        entered = f" via operator:{self.via}" if self.via else ""
        return f"{self.role.value}:{self.id}{entered}"

    @classmethod
    def parse(cls, text: str) -> Actor:
        """The recorded spelling back: 'mentee:bob', or 'mentee:bob via operator:olga'."""
        acted, _, entered = text.partition(" via operator:")
        role, _, actor_id = acted.partition(":")
        return cls(role=Role(role), id=actor_id, via=entered or None)


SYSTEM = Actor(role=Role.SYSTEM, id="system")
