"""What people's calendars show follows the relationship's schedule (v0.5).

Real SMTP on loopback: every email the engine sends reaches an aiosmtpd relay; every `.ics`
in it is read by two independent parsers (icalendar and vobject), which must agree. A
calendar per person applies each message in order, as a calendar client does (RFC 5546: an
update with a lower SEQUENCE than the one held is stale and ignored), and must end up
showing exactly the relationship's schedule: no ghost meeting, no stale time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from temporalio.testing import WorkflowEnvironment

from ledger.store import Ledger
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind
from mentorship.participants import Channel
from mentorship.state import RelationshipState
from tests.factories import (
    ALICE,
    BOB,
    MENTEE,
    MENTOR,
    OPERATOR,
    commitment,
    goals,
    log,
    request,
    terms,
)
from tests.lifecycle import Lifecycle, Pair
from tests.test_channels import Mailbox, SmtpPeer, smtp_peer  # noqa: F401
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings

WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
MONTHLY = Cadence(kind=CadenceKind.MONTHLY)
LINK = "https://meet.example.org/juergen-bob"
MENTOR_PERSON = ALICE.model_copy(
    update={"name": "Jürgen Mentor", "channel": Channel.EMAIL, "timezone": "Europe/Berlin"}
)
MENTEE_PERSON = BOB.model_copy(update={"channel": Channel.EMAIL, "timezone": "America/New_York"})
CONTACT = "Olga Ops <programs@example.org>"


@dataclass(frozen=True)
class CalendarItem:
    """One calendar message as both parsers read it."""

    method: str
    uid: str
    sequence: int
    start: datetime
    status: str
    location: str


def read_ics(text: str) -> CalendarItem:
    cal = icalendar.Calendar.from_ical(text)
    event = cal.walk("VEVENT")[0]
    by_icalendar = CalendarItem(
        method=str(cal["METHOD"]),
        uid=str(event["UID"]),
        sequence=int(event["SEQUENCE"]),
        start=event.decoded("DTSTART"),
        status=str(event["STATUS"]),
        location=str(event.get("LOCATION", "")),
    )
    parsed = vobject.readOne(text, validate=True)
    vevent = parsed.vevent
    by_vobject = CalendarItem(
        method=parsed.method.value,
        uid=vevent.uid.value,
        sequence=int(vevent.sequence.value),
        start=vevent.dtstart.value,
        status=vevent.status.value,
        location=vevent.location.value if hasattr(vevent, "location") else "",
    )
    assert by_icalendar == by_vobject, "two parsers read the same invite differently"
    return by_icalendar


def calendar_items(message: EmailMessage) -> list[CalendarItem]:
    """The inline text/calendar part, checked against the .ics attachment beside it."""
    inline = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    attached = [p for p in message.walk() if p.get_content_type() == "application/ics"]
    assert len(inline) == len(attached) <= 1
    items = [read_ics(part.get_content()) for part in inline]
    for part, item in zip(attached, items, strict=True):
        assert read_ics(part.get_content().decode()) == item
        assert part.get_param("method", header="content-type") is None
    for part, item in zip(inline, items, strict=True):
        assert part.get_param("method") == item.method
    return items


@dataclass
class PersonalCalendar:
    """A calendar client: a REQUEST adds or updates, a CANCEL removes; stale ones are ignored."""

    held: dict[str, CalendarItem] = field(default_factory=dict)
    seen: dict[str, list[int]] = field(default_factory=dict)

    def apply(self, item: CalendarItem) -> None:
        self.seen.setdefault(item.uid, []).append(item.sequence)
        current = self.held.get(item.uid)
        if current is not None and item.sequence < current.sequence:
            return
        self.held[item.uid] = item

    def showing(self) -> dict[str, datetime]:
        return {uid: i.start for uid, i in self.held.items() if i.method == "REQUEST"}


@dataclass
class Inboxes:
    mailbox: Mailbox
    read: int = 0
    calendars: dict[str, PersonalCalendar] = field(default_factory=dict)

    async def take(self, count: int) -> list[tuple[str, EmailMessage, list[CalendarItem]]]:
        """The next `count` emails, each applied to its recipient's calendar."""
        for _ in range(300):  # bounded: the engine sends them right after the update returns
            if len(self.mailbox.messages) >= self.read + count:
                break
            await asyncio.sleep(0.1)
        new = self.mailbox.messages[self.read : self.read + count]
        assert len(new) == count, f"expected {count} emails, got {len(new)}"
        self.read += count
        taken = []
        for message in new:
            to = str(message["To"])
            items = calendar_items(message)
            for item in items:
                self.calendars.setdefault(to, PersonalCalendar()).apply(item)
            taken.append((to, message, items))
        return taken

    async def calendar_messages(self, count: int) -> list[CalendarItem]:
        return [i for _, _, items in await self.take(count) for i in items]

    def assert_sequences_strictly_increase(self) -> None:
        for person, calendar in self.calendars.items():
            for uid, sequences in calendar.seen.items():
                assert sequences == sorted(set(sequences)), f"{person} {uid}: {sequences}"


def scheduled_view(state: RelationshipState, uid_of: Callable[[int], str]) -> dict[str, datetime]:
    """What the schedule says calendars should show: every meeting still on it, past or not."""
    return {uid_of(m.number): m.scheduled_at for m in state.meetings}


@pytest.fixture
def relay(smtp_peer: SmtpPeer) -> Iterator[tuple[Mailbox, int]]:  # noqa: F811
    yield smtp_peer(Mailbox())


def smtp_settings(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_sender": "Mentoring <mentoring@example.org>",
            "program_contact": CONTACT,
        }
    )


async def onboarded(life: Lifecycle, inboxes: Inboxes, first: datetime) -> Pair:
    pair = await life.start(request(mentor=MENTOR_PERSON, mentee=MENTEE_PERSON))
    await inboxes.take(2)  # the welcomes
    await pair.do(goals(cadence=WEEKLY))
    await pair.do(commitment())
    agreed = terms(first, WEEKLY).model_copy(update={"link": LINK})
    await pair.do(c.ConfirmAgreement(actor=MENTEE, terms=agreed))
    await pair.do(c.ConfirmAgreement(actor=MENTOR, terms=agreed))
    return pair


async def _operator_told(pair: Pair) -> None:
    """The operator's summary goes to the outbox; wait for it so no delivery is left running
    (it would hold the shared time-skipping server's clock for the next test)."""
    for _ in range(300):
        if any(m["kind"] == "summary" for m in pair.outbox()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the operator was not told")


def uid_for(pair: Pair) -> Callable[[int], str]:
    return lambda number: f"{pair.id}-meeting-{number}@mentorflow"


async def test_every_change_reaches_both_calendars_and_they_end_as_the_schedule(
    time_env: WorkflowEnvironment, settings: Settings, relay: tuple[Mailbox, int]
) -> None:
    mailbox, port = relay
    mailed = smtp_settings(settings, port)
    ledger = Ledger.from_url(mailed.resolved_ledger_url)
    inboxes = Inboxes(mailbox)
    async with build_worker(time_env.client, mailed, lifecycle_activities(mailed, ledger)):
        life = Lifecycle(time_env, mailed, ledger)
        now = await life.now()
        first = (now + timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
        pair = await onboarded(life, inboxes, first)
        uid = uid_for(pair)

        # The agreement holds meeting 1 in both calendars at once, with the call's link.
        agreed = await inboxes.take(2)
        assert {m["X-Mentorflow-Kind"] for _, m, _ in agreed} == {"agreement_confirmed"}
        for _, message, [item] in agreed:
            assert (item.method, item.uid, item.sequence) == ("REQUEST", uid(1), 0)
            assert item.start == first and item.location == LINK
            assert message["Reply-To"] == CONTACT
            assert "reply to this email" in message.get_body(("plain",)).get_content()

        moved_to = first + timedelta(days=1)
        await pair.do(
            c.RescheduleMeeting(actor=MENTEE, meeting_number=1, new_time=moved_to, reason="trip")
        )
        for item in await inboxes.calendar_messages(2):
            assert (item.method, item.uid, item.sequence) == ("REQUEST", uid(1), 1)
            assert item.start == moved_to

        # Prep and reminder come before it and carry no invite; the log schedules meeting 2,
        # whose invite goes out at once.
        await life.sleep_until(moved_to + timedelta(hours=1))
        reminders = await inboxes.take(3)  # the mentee's prep, then the reminder to both
        assert all(not items for _, _, items in reminders)
        await pair.do(log(MENTEE, moved_to))
        state = (await pair.status()).state
        meeting_2 = state.next_meeting
        assert meeting_2 is not None and state.rhythm is not None
        for item in await inboxes.calendar_messages(2):
            assert (item.method, item.uid, item.sequence) == ("REQUEST", uid(2), 0)
            assert item.start == meeting_2.scheduled_at
        assert state.rhythm.at == first.astimezone(ZoneInfo(state.rhythm.time_zone)).time()

        # A pause takes meeting 2 off both calendars.
        await pair.do(c.Pause(actor=OPERATOR, reason="mentor on leave"))
        paused = await inboxes.take(2)
        for _, message, [item] in paused:
            assert (item.method, item.uid, item.sequence) == ("CANCEL", uid(2), 1)
            assert "Olga Operator" in message.get_body(("plain",)).get_content()

        # Resume, with meeting 2's time gone by: back on the agreed weekday and time.
        await life.sleep_until(meeting_2.scheduled_at + timedelta(days=3))
        await pair.do(c.Resume(actor=OPERATOR))
        resumed_at = await life.now()
        back = (await pair.status()).state.next_meeting
        assert back is not None and back.scheduled_at > resumed_at
        local = ZoneInfo(state.rhythm.time_zone)
        assert back.scheduled_at.astimezone(local).weekday() == first.astimezone(local).weekday()
        assert back.scheduled_at.astimezone(local).time() == state.rhythm.at
        for item in await inboxes.calendar_messages(2):
            assert (item.method, item.uid, item.sequence) == ("REQUEST", uid(2), 2)
            assert item.start == back.scheduled_at

        # A cadence change moves it, with a higher SEQUENCE and an email saying why.
        await pair.do(c.ChangeCadence(actor=OPERATOR, cadence=MONTHLY, reason="settling in"))
        changed = await inboxes.take(4)  # the cadence change and the move, to both
        moves = [i for _, _, items in changed for i in items]
        rebased = (await pair.status()).state.next_meeting
        assert rebased is not None and rebased.scheduled_at != back.scheduled_at
        assert len(moves) == 2
        for item in moves:
            assert (item.method, item.uid, item.sequence) == ("REQUEST", uid(2), 3)
            assert item.start == rebased.scheduled_at

        # Cancelling the relationship cancels the meeting still on the calendar.
        await pair.do(c.Cancel(actor=OPERATOR, reason="program closed"))
        ending = await inboxes.take(4)  # the cancellation and the summary, to both
        cancels = [i for _, _, items in ending for i in items]
        assert len(cancels) == 2
        for item in cancels:
            assert (item.method, item.uid, item.sequence) == ("CANCEL", uid(2), 4)

        final = (await pair.status()).state
        await _operator_told(pair)
        await life.close()
    ledger.dispose()

    inboxes.assert_sequences_strictly_increase()
    expected = scheduled_view(final, uid)
    assert expected == {uid(1): moved_to}, "only the meeting they held stays"
    for person in (MENTOR_PERSON, MENTEE_PERSON):
        [calendar] = [cal for to, cal in inboxes.calendars.items() if person.email in to]
        assert calendar.showing() == expected


async def test_concluding_cancels_the_meetings_that_will_not_happen(
    time_env: WorkflowEnvironment, settings: Settings, relay: tuple[Mailbox, int]
) -> None:
    mailbox, port = relay
    mailed = smtp_settings(settings, port)
    ledger = Ledger.from_url(mailed.resolved_ledger_url)
    inboxes = Inboxes(mailbox)
    async with build_worker(time_env.client, mailed, lifecycle_activities(mailed, ledger)):
        life = Lifecycle(time_env, mailed, ledger)
        first = (await life.now() + timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
        pair = await onboarded(life, inboxes, first)
        uid = uid_for(pair)
        await inboxes.take(2)
        await pair.do(c.Conclude(actor=MENTOR, reason="new role, less time"))
        ending = await inboxes.take(4)  # the cancellation and the reflection request, to both
        kinds = sorted(str(m["X-Mentorflow-Kind"]) for _, m, _ in ending)
        assert kinds == ["meeting_cancelled"] * 2 + ["reflection_request"] * 2
        for item in [i for _, _, items in ending for i in items]:
            assert (item.method, item.uid, item.sequence, item.status) == (
                "CANCEL",
                uid(1),
                1,
                "CANCELLED",
            )
        final = (await pair.status()).state
        await life.close()
    ledger.dispose()
    inboxes.assert_sequences_strictly_increase()
    assert scheduled_view(final, uid) == {}
    for calendar in inboxes.calendars.values():
        assert calendar.showing() == {}, "no ghost meeting"
