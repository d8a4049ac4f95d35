"""Turn a notification into words people act on, and meetings into calendar invites.

Templates live next to this module (`templates/{kind}.subject.j2`, `.txt.j2`, `.html.j2`) so
copy can change without touching delivery code. Rendering is forgiving on purpose: a context
key the workflow forgot must cost a sentence, never the delivery.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, vCalAddress
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined, select_autoescape
from pydantic import BaseModel, ConfigDict

from activities.contacts import ProgramContact
from mentorship.notifications import MeetingInvite, Notification, Recipient
from mentorship.participants import Participant, Role

TEMPLATES = Path(__file__).resolve().parent / "templates"
PRODID = "-//mentorflow//mentorflow//EN"
_MAX_SUBJECT = 200


class RenderedMessage(BaseModel):
    """One recipient's copy of a notification, ready for any channel."""

    model_config = ConfigDict(frozen=True)

    subject: str
    text: str
    html: str


def render(
    notification: Notification,
    recipient: Recipient,
    contact: ProgramContact | None = None,
    link: str | None = None,
) -> RenderedMessage:
    """Render per recipient because the copy differs by role (e.g. only mentors see agendas).

    `contact` signs the message and is who replies reach; `link` is the recipient's personal
    page in the portal. The footer tells people both."""
    env = environment()
    kind = notification.kind.value
    variables = _variables(notification, recipient)
    variables["contact"] = contact
    variables["link"] = link
    subject = _one_line(env.get_template(f"{kind}.subject.j2").render(variables))
    variables["subject"] = subject
    text = _tidy(env.get_template(f"{kind}.txt.j2").render(variables))
    html = env.get_template(f"{kind}.html.j2").render(variables).strip() + "\n"
    return RenderedMessage(subject=subject, text=text, html=html)


@cache
def environment() -> Environment:
    """One environment per process: Jinja caches compiled templates on it."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["as_list"] = as_list
    env.filters["when"] = when
    env.filters["humanize"] = humanize
    env.filters["upper_first"] = upper_first
    env.filters["actor"] = actor
    return env


def _variables(notification: Notification, recipient: Recipient) -> dict[str, Any]:
    ctx = notification.context
    return {
        "n": notification,
        "recipient": recipient,
        "ctx": ctx,
        "name": recipient.person.name,
        "role": recipient.role.value,
        "partner": _partner_name(recipient.role, ctx),
        "program": ctx.get("program") or notification.program,
        "tz": recipient.person.timezone,
    }


def _partner_name(role: Role, ctx: Mapping[str, Any]) -> str:
    """The other party, so copy can say 'Ana' instead of 'your mentor'."""
    if role is Role.MENTOR:
        return str(ctx.get("mentee_name") or "your mentee")
    if role is Role.MENTEE:
        return str(ctx.get("mentor_name") or "your mentor")
    return ""


def _one_line(subject: str) -> str:
    """Headers cannot carry newlines; a template's stray whitespace must not break the mail."""
    flat = " ".join(subject.split())
    if len(flat) > _MAX_SUBJECT:
        flat = flat[: _MAX_SUBJECT - 1].rstrip() + "…"
    return flat or "A note from your mentoring program"


def _tidy(text: str) -> str:
    """Conditional blocks leave blank runs behind; readers should not see them."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def as_list(value: object) -> list[Any]:
    """Lists in context may be missing, None or a lone string; loops should not care."""
    if value is None or isinstance(value, Undefined):
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    if isinstance(value, Iterable):
        return [item for item in value if item is not None and item != ""]
    return [value]


def humanize(value: object) -> str:
    """Enum-ish values ('in_person', 'concluded_early') read better as words."""
    if value is None or isinstance(value, Undefined):
        return ""
    return str(value).replace("_", " ").strip()


def upper_first(value: object) -> str:
    """Start a sentence with a name without `capitalize` lowering the rest ('Ana María')."""
    text = "" if value is None or isinstance(value, Undefined) else str(value)
    return text[:1].upper() + text[1:]


def actor(value: object, n: object = None, viewer: object = None) -> str:
    """'mentor:ana' or 'ana' means something to the ledger; to people it means 'Ana' or 'you'."""
    if value is None or isinstance(value, Undefined) or value == "":
        return ""
    if isinstance(value, Mapping):
        value = f"{value.get('role', '')}:{value.get('id', '')}"
    role, sep, ident = str(value).partition(":")
    if not sep:
        role, ident = "", role
    if isinstance(viewer, Recipient) and ident == viewer.person.id:
        return "you"
    people = n.recipients if isinstance(n, Notification) else ()
    ctx = n.context if isinstance(n, Notification) else {}
    named = next((r.person.name for r in people if r.person.id == ident), None)
    roles = {
        Role.MENTOR.value: ctx.get("mentor_name"),
        Role.MENTEE.value: ctx.get("mentee_name"),
        Role.OPERATOR.value: "the program team",
        Role.SYSTEM.value: "the program schedule",
    }
    return str(named or roles.get(role.strip().lower()) or ident or value)


def when(value: object, tz: str = "UTC") -> str:
    """People act on 'Tuesday 4 March 2025, 14:00 CET', not on ISO strings in UTC."""
    if value is None or isinstance(value, Undefined) or value == "":
        return ""
    parsed = _as_moment(value)
    if parsed is None:
        return str(value)
    if not isinstance(parsed, datetime):
        return f"{parsed:%A} {parsed.day} {parsed:%B %Y}"
    local = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(_zone(tz))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname() or tz}"


def _as_moment(value: object) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def build_invite(
    invite: MeetingInvite,
    organizer: str,
    attendees: Sequence[Participant],
    *,
    stamp: datetime | None = None,
) -> bytes:
    """An iTIP REQUEST (or CANCEL) calendar clients can accept, update and withdraw.

    The UID stays the invite's uid and SEQUENCE its sequence, so a reschedule updates the
    event already in people's calendars instead of adding a second one. `organizer` should be
    the address that sends the mail ("Name <addr>" or a bare address): clients ignore updates
    whose organizer does not match the sender.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if invite.cancelled else "REQUEST")
    calendar.add_component(_event(invite, organizer, attendees, stamp or datetime.now(UTC)))
    ical: bytes = calendar.to_ical()
    return ical


def _event(
    invite: MeetingInvite, organizer: str, attendees: Sequence[Participant], stamp: datetime
) -> Event:
    start = _utc(invite.start)
    event = Event()
    event.add("uid", invite.uid)
    event.add("sequence", invite.sequence)
    event.add("dtstamp", _utc(stamp))
    event.add("dtstart", start)
    event.add("dtend", start + invite.duration)
    event.add("summary", invite.summary)
    event.add("status", "CANCELLED" if invite.cancelled else "CONFIRMED")
    if invite.description:
        event.add("description", invite.description)
    if invite.location:
        event.add("location", invite.location)
    if invite.url:
        event.add("url", invite.url)
    event.add("organizer", _address(*parseaddr(organizer)), encode=False)
    for person in attendees:
        event.add("attendee", _attendee(person), encode=False)
    return event


def _attendee(person: Participant) -> vCalAddress:
    address = _address(person.name, person.email)
    address.params["ROLE"] = "REQ-PARTICIPANT"
    address.params["PARTSTAT"] = "NEEDS-ACTION"
    # Nothing reads iTIP replies yet: asking for them would send Accept/Decline into a void.
    address.params["RSVP"] = "FALSE"
    return address


def _address(name: str, email: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = " ".join(name.split())
    return address


def _utc(moment: datetime) -> datetime:
    """Naive datetimes in the domain are UTC; calendars must be told so explicitly."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
