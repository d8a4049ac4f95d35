"""Who answers for a program: the Reply-To of its emails and the name they are signed with.

Replies have to reach someone who reads them. A program's contact comes from the settings
(`MENTORFLOW_PROGRAM_CONTACTS`, per program, else `MENTORFLOW_PROGRAM_CONTACT`); without one,
the relationship's own operator, whose address every notification carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import formataddr, parseaddr
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from mentorship.notifications import Notification


class ProgramContact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    email: str

    @field_validator("email")
    @classmethod
    def _is_an_address(cls, value: str) -> str:
        local, _, domain = value.partition("@")
        if not local or not domain or any(c.isspace() for c in value):
            raise ValueError(f"'{value}' is not an email address")
        return value

    @classmethod
    def parse(cls, text: str) -> ProgramContact:
        """'Ana Ops <ana@example.org>' (or a bare address, then named by it)."""
        name, address = parseaddr(text.strip())
        if "@" not in address:
            raise ValueError(
                f"'{text.strip()}' is not a contact; write it as 'Name <address@example.org>'"
            )
        return cls(name=" ".join(name.split()) or address, email=address)

    def header(self) -> str:
        return formataddr((self.name, self.email))


class ProgramContacts(BaseModel):
    """Each program's contact; `default` for programs not listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: ProgramContact | None = None
    programs: dict[str, ProgramContact] = {}

    @classmethod
    def parse(cls, default: str | None, programs: str | None) -> ProgramContacts:
        """`programs`: 'program=Name <address>' entries separated by ';'."""
        listed: dict[str, ProgramContact] = {}
        for entry in (programs or "").split(";"):
            if not entry.strip():
                continue
            program, sep, contact = entry.partition("=")
            if not sep or not program.strip():
                raise ValueError(
                    f"'{entry.strip()}' names no program; write 'program=Name <address>'"
                )
            listed[program.strip()] = ProgramContact.parse(contact)
        return cls(default=ProgramContact.parse(default) if default else None, programs=listed)

    def for_notification(self, notification: Notification) -> ProgramContact | None:
        configured = self.programs.get(notification.program) or self.default
        return configured or _operator(notification.context)


def _operator(context: Mapping[str, Any]) -> ProgramContact | None:
    name, email = context.get("operator_name"), context.get("operator_email")
    if not isinstance(email, str) or "@" not in email:
        return None
    return ProgramContact(name=str(name or email), email=email)
