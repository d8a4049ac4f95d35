"""The program guide's promises, kept by the real workflow on the time-skipping server.

Each test is one behaviour a participant or operator would notice: what the ledger records,
which messages go out and to whom, what the status says. The same rules are tested as pure
functions in tests/test_domain_*.py; here they run through Temporal, timers and activities.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from mentorship import commands as c
from mentorship import events as ev
from mentorship.availability import Window
from mentorship.cadence import Cadence, CadenceKind
from mentorship.commands import ItemStatus
from mentorship.events import Outcome, Recorded
from mentorship.participants import Role
from mentorship.policy import Policy
from mentorship.state import MeetingStatus, Phase
from tests.factories import (
    BIWEEKLY,
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    commitment,
    goals,
    log,
    mentor_feedback,
    reflection,
    request,
    terms,
)
from tests.lifecycle import Lifecycle, Pair, hold_next_meeting

WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
QUARTERLY = Cadence(kind=CadenceKind.QUARTERLY)
BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY, THURSDAY = 1, 3  # date.weekday()


# ------------------------------------------------------------------------------ helpers


async def _onboard(pair: Pair, cadence: Cadence = BIWEEKLY, window: Window | None = None) -> None:
    """Both statements, then both confirm the mentee's proposal (no terms given)."""
    await pair.do(goals(cadence=cadence))
    await pair.do(commitment(window=window))
    await pair.do(c.ConfirmAgreement(actor=MENTEE))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))


def _refusal(err: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    cause = err.value.cause
    assert isinstance(cause, ApplicationError), f"not a refusal: {err.value!r}"
    return cause.message


def _of(records: list[Recorded], kind: type[ev.Shape]) -> list[Recorded]:
    return [r for r in records if isinstance(r.event, kind)]


def _kinds(pair: Pair) -> list[str]:
    return [r.event.type for r in pair.ledger()]


def _first_meeting(records: list[Recorded]) -> datetime:
    first = [r.event for r in records if isinstance(r.event, ev.MeetingScheduled)]
    assert first and first[0].number == 1
    return first[0].at


def _hours(start: datetime) -> Iterator[datetime]:
    """Every whole UTC hour from `start` on (Berlin's offset is whole hours too)."""
    at = start.replace(minute=0, second=0, microsecond=0)
    if at < start:
        at += timedelta(hours=1)
    while True:
        yield at
        at += timedelta(hours=1)


def _first_window_slot(earliest: datetime) -> datetime:
    """The first hour, at or after `earliest`, on a Tuesday or Thursday in Berlin at which a
    one-hour session fits between 14:00 and 17:00 local time: worked out here, by hand."""
    for at in _hours(earliest):
        local = at.astimezone(BERLIN)
        if local.weekday() in (TUESDAY, THURSDAY) and 14 <= local.hour <= 16:
            return at
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------ 1. capacity


async def test_a_mentor_with_capacity_two_agrees_bi_weekly_and_a_weekly_proposal_is_refused(
    lifecycle: Lifecycle,
) -> None:
    pair = await lifecycle.start(request())
    await pair.do(goals(cadence=WEEKLY))
    await pair.do(commitment(capacity=2))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await pair.do(c.ConfirmAgreement(actor=MENTEE))
    message = _refusal(refused)
    assert message.startswith("terms.cadence: weekly is 4 meetings a month"), message
    assert "more than the mentor's capacity of 2" in message
    assert "biweekly or monthly or quarterly fit" in message
    assert "--cadence biweekly" in message
    assert "AgreementConfirmed" not in _kinds(pair), "a refused confirmation records nothing"

    first = (await lifecycle.now()) + timedelta(days=7)
    await pair.do(c.ConfirmAgreement(actor=MENTEE, terms=terms(first, BIWEEKLY)))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    view = await pair.status()
    assert view.state.phase is Phase.ACTIVE
    assert view.state.cadence == BIWEEKLY
    [signed] = _of(pair.ledger(), ev.AgreementSigned)
    assert isinstance(signed.event, ev.AgreementSigned)
    assert signed.event.terms.cadence == BIWEEKLY
    assert pair.sent()[("agreement_confirmed", "mentor")] == 1
    assert pair.sent()[("agreement_confirmed", "mentee")] == 1
    await pair.handle.terminate("test over")


# ------------------------------------------------------------------------------ 2. onboarding


async def test_onboarding_reminders_go_only_to_whoever_can_act(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    await pair.do(commitment())  # the mentor's part is in; the mentee's goals come first
    await lifecycle.sleep(timedelta(days=6, minutes=1))  # reminders on days 3 and 6
    reminders = [m for m in pair.outbox() if m["kind"] == "onboarding_reminder"]
    assert len(reminders) == 2
    assert {m["recipient_role"] for m in reminders} == {"mentee"}, (
        "the mentor cannot confirm before the mentee's goals exist"
    )
    assert all(m["recipient_id"] == MENTEE.id for m in reminders)
    # Says what, and how: participants answer by replying, which reaches the operator.
    said = [m["text"] for m in reminders]
    assert all("learning goals" in t and "reply to this email" in t for t in said), said[0]
    recorded = [r.event for r in pair.ledger() if isinstance(r.event, ev.ReminderSent)]
    assert [e.to for e in recorded] == [[Role.MENTEE], [Role.MENTEE]]
    assert (await pair.status()).waiting_for[0] == "goals"
    await pair.handle.terminate("test over")


async def test_a_pause_during_onboarding_resumes_without_a_burst_of_reminders(
    lifecycle: Lifecycle,
) -> None:
    pair = await lifecycle.start(request())
    await pair.do(goals())
    await lifecycle.sleep(timedelta(days=4))  # one reminder went out on day 3
    assert len(_of(pair.ledger(), ev.ReminderSent)) == 1
    await pair.do(c.Pause(actor=OPERATOR, reason="mentor travelling"))
    await lifecycle.sleep(timedelta(days=10))
    await pair.do(c.Resume(actor=OPERATOR))
    [resumed] = _of(pair.ledger(), ev.Resumed)
    await lifecycle.sleep(timedelta(minutes=1))
    assert len(_of(pair.ledger(), ev.ReminderSent)) == 1, "no burst of the reminders it missed"

    await lifecycle.sleep_until(resumed.occurred_at + timedelta(days=5, minutes=1))
    reminders = _of(pair.ledger(), ev.ReminderSent)
    moments = [r.occurred_at for r in reminders]
    assert len(moments) == 3, moments
    assert len(set(moments)) == len(moments), "two reminders at the same instant"
    gaps = [later - earlier for earlier, later in pairwise(moments)]
    # Spaced by the reminder interval; the server's clock also runs while the test talks to
    # it, so a timer can fire a few milliseconds late: allow it a minute here and below.
    assert all(gap > timedelta(days=3, minutes=-1) for gap in gaps), gaps
    after_resume = moments[1:]
    assert all(at > resumed.occurred_at for at in after_resume)
    # Day 6 of the schedule moved on by the pause: two days after resuming, then every 3 days.
    [started] = _of(pair.ledger(), ev.RelationshipStarted)
    assert isinstance(resumed.event, ev.Resumed)
    paused_for = timedelta(seconds=resumed.event.paused_for_seconds)
    assert paused_for >= timedelta(days=10)
    for n, at in enumerate(after_resume, start=2):
        expected = started.occurred_at + n * timedelta(days=3) + paused_for
        assert abs(at - expected) < timedelta(minutes=1), (n, at, expected)
    assert pair.sent()[("onboarding_reminder", "mentor")] == 3, "one message per reminder"
    assert pair.sent()[("onboarding_reminder", "mentee")] == 0
    await pair.handle.terminate("test over")


# ------------------------------------------------------------------------------ 4. action items


async def test_new_action_items_from_a_logged_meeting_start_open(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair)
    number = await hold_next_meeting(pair, wins=[])
    [logged] = _of(pair.ledger(), ev.MeetingLogged)
    assert isinstance(logged.event, ev.MeetingLogged)
    assert logged.event.action_items == ["Read the RFC"]
    items = list((await pair.status()).state.action_items.values())
    assert [i.description for i in items] == ["Read the RFC"]
    [item] = items
    assert item.status is ItemStatus.OPEN, "no one has reported on it yet"
    assert item.source == f"meeting {number}"
    assert item.done_at is None
    await pair.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.IN_PROGRESS))
    moved = (await pair.status()).state.action_items[item.id]
    assert moved.status is ItemStatus.IN_PROGRESS
    await pair.handle.terminate("test over")


# ------------------------------------------------------------------------------ 5. reviews


async def test_an_unanswered_review_raises_one_at_risk_flag_and_a_check_in_not_a_new_review(
    lifecycle: Lifecycle,
) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair, cadence=QUARTERLY)
    first = _first_meeting(pair.ledger())
    await lifecycle.sleep_until(first + timedelta(hours=1))
    await pair.do(log(MENTEE, first))
    await lifecycle.sleep(timedelta(days=91 + 14 + 1))  # the review opens, then goes unanswered
    [decided] = _of(pair.ledger(), ev.ReviewDecided)
    assert isinstance(decided.event, ev.ReviewDecided)
    assert set(decided.event.unanswered) == {Role.MENTOR, Role.MENTEE}
    await lifecycle.sleep_until(decided.occurred_at + timedelta(days=30))

    records = pair.ledger()
    raised = [r.event for r in records if isinstance(r.event, ev.AtRiskRaised)]
    assert len(raised) == 1, "one flag"
    assert raised[0].reasons == ["review 1 went unanswered by mentor and mentee"]
    assert raised[0].review_at is None, "no early review: it would go unanswered too"
    opened = _of(records, ev.ReviewOpened)
    assert len(opened) == 1, "the next review is not brought forward"
    assert opened[0].seq < decided.seq
    sent = pair.sent()
    assert sent[("check_in", "mentor")] == sent[("check_in", "mentee")] == 1
    assert sent[("at_risk", "operator")] == 1
    view = await pair.status()
    assert view.state.at_risk
    assert view.state.open_review is None
    assert view.state.next_review_at is not None
    assert view.state.next_review_at - decided.occurred_at > timedelta(days=60)
    await pair.handle.terminate("test over")


# ------------------------------------------------------------------------------ 6. extension


async def test_extending_the_end_date_with_no_meeting_on_the_calendar_schedules_the_next(
    lifecycle: Lifecycle,
) -> None:
    now = await lifecycle.now()
    pair = await lifecycle.start(request(end_date=(now + timedelta(days=20)).date()))
    await _onboard(pair)  # meeting 1 on day 7; the next bi-weekly slot, day 21, is past the end
    first = _first_meeting(pair.ledger())
    await lifecycle.sleep_until(first + timedelta(hours=1))
    await pair.do(log(MENTEE, first))
    assert (await pair.status()).state.next_meeting is None, "nothing fits before the end date"

    result = await pair.do(
        c.ExtendEndDate(actor=OPERATOR, end_date=(now + timedelta(days=60)).date())
    )
    assert result.events == ["EndDateExtended", "MeetingScheduled"]
    records = pair.ledger()
    extended = _of(records, ev.EndDateExtended)[-1]
    scheduled = _of(records, ev.MeetingScheduled)[-1]
    assert scheduled.seq == extended.seq + 1, "scheduled right after the extension"
    assert isinstance(scheduled.event, ev.MeetingScheduled)
    assert scheduled.event.number == 2
    assert scheduled.event.at == first + timedelta(days=14), "on the cadence, from meeting 1"
    upcoming = (await pair.status()).state.next_meeting
    assert upcoming is not None and upcoming.scheduled_at == scheduled.event.at
    notices = [m for m in pair.outbox() if m["kind"] == "end_date_extended"]
    assert {m["recipient_role"] for m in notices} == {"mentor", "mentee"}
    await pair.handle.terminate("test over")


# ------------------------------------------------------------------------------ 7. conclusion


async def _with_open_work(lifecycle: Lifecycle, program: str) -> Pair:
    policy = Policy(feedback_every_meetings=1)
    pair = await lifecycle.start(request(program=program, policy=policy))
    await _onboard(pair)
    return pair


async def _open_everything(pair: Pair) -> list[str]:
    """An open action item, a feedback loop half answered, and a review under way."""
    await pair.do(mentor_feedback(1))
    await pair.do(c.RequestReview(actor=MENTEE, reason="my role changed"))
    state = (await pair.status()).state
    assert state.open_review is not None and state.open_loop is not None
    items = sorted(i.id for i in state.open_items())
    assert len(items) >= 2, "the meeting's item and the action plan's"
    return items


async def _assert_closed_before_concluded(pair: Pair, items: list[str], ended_as: str) -> None:
    records = pair.ledger()
    kinds = [r.event.type for r in records]
    assert kinds.count("Concluded") == 1
    assert kinds[-1] == "Concluded", f"something followed Concluded: {kinds[-3:]}"
    [closed] = _of(records, ev.OpenWorkClosed)
    assert isinstance(closed.event, ev.OpenWorkClosed)
    assert closed.seq < records[-1].seq
    assert closed.event.review == 1
    assert closed.event.loops == [1]
    assert sorted(closed.event.items) == items, "every open item is named"
    assert ended_as in closed.event.reason
    view = await pair.status()
    assert view.state.phase is Phase.CONCLUDED
    assert view.waiting_for == []
    assert view.state.open_review is None
    assert view.state.open_loop is None
    assert view.state.open_items() == []


async def test_conclusion_closes_the_open_review_loop_and_items_before_concluded(
    lifecycle: Lifecycle,
) -> None:
    cancelled = await _with_open_work(lifecycle, "eng-cancelled")
    concluded = await _with_open_work(lifecycle, "eng-concluded")
    first = _first_meeting(cancelled.ledger())
    await lifecycle.sleep_until(max(first, _first_meeting(concluded.ledger())) + timedelta(hours=1))
    open_items: dict[str, list[str]] = {}
    for pair in (cancelled, concluded):
        meeting = (await pair.status()).state.next_meeting
        assert meeting is not None
        await pair.do(log(MENTEE, meeting.scheduled_at, action_items=["Draft the RFC"]))
        open_items[pair.id] = await _open_everything(pair)

    await cancelled.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    assert (await cancelled.result()).outcome is Outcome.CANCELLED
    await _assert_closed_before_concluded(cancelled, open_items[cancelled.id], "cancelled")

    await concluded.do(c.Conclude(actor=MENTEE, reason="changed teams"))
    await concluded.do(reflection(MENTOR))
    await concluded.do(reflection(MENTEE))
    assert (await concluded.result()).outcome is Outcome.CONCLUDED_EARLY
    await _assert_closed_before_concluded(concluded, open_items[concluded.id], "concluded early")


# ------------------------------------------------------------------------------ 8. early logs


async def test_a_meeting_logged_far_before_its_date_is_an_extra_meeting_or_refused_by_number(
    lifecycle: Lifecycle,
) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair)
    first = _first_meeting(pair.ledger())
    await lifecycle.sleep_until(first + timedelta(hours=1))
    await pair.do(log(MENTEE, first))
    second = (await pair.status()).state.next_meeting
    assert second is not None and second.number == 2
    await lifecycle.sleep(timedelta(days=1))
    held_at = first + timedelta(days=1)  # 13 days before meeting 2

    before = len(pair.ledger())
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await pair.do(log(MENTEE, held_at, meeting_number=2))
    message = _refusal(refused)
    assert message.startswith("held_at:"), message
    assert "too early to be that meeting" in message
    assert "recorded as an extra meeting" in message
    assert len(pair.ledger()) == before, "a refused log records nothing"

    result = await pair.do(log(MENTEE, held_at, notes="Quick sync on the RFC"))
    assert result.events == ["MeetingScheduled", "MeetingLogged"]
    records = pair.ledger()
    scheduled, logged = records[-2], records[-1]
    assert isinstance(scheduled.event, ev.MeetingScheduled)
    assert isinstance(logged.event, ev.MeetingLogged)
    assert scheduled.event.number == logged.event.number == 3
    assert scheduled.event.at == logged.event.held_at == held_at
    assert scheduled.cause.startswith("an extra meeting, held 13 days before meeting 2")
    state = (await pair.status()).state
    extra = state.meeting(3)
    assert extra is not None and extra.status is MeetingStatus.HELD
    assert state.next_meeting == second, "meeting 2 stays on its date"
    await pair.handle.terminate("test over")


# ------------------------------------------------------------------------------ 9. messages


async def test_a_relationship_that_never_started_gets_the_not_started_message(
    lifecycle: Lifecycle,
) -> None:
    pair = await lifecycle.start(request())
    await pair.do(goals())
    await lifecycle.sleep(timedelta(days=22))  # deadline day 14, then 7 days of grace
    assert (await pair.result()).outcome is Outcome.NOT_STARTED
    sent = pair.sent()
    assert sent[("not_started", "mentor")] == sent[("not_started", "mentee")] == 1
    assert sent[("not_started", "operator")] == 1
    assert not [k for k in sent if k[0] == "summary"], "no thank-you summary"
    for message in pair.outbox():
        if message["kind"] == "not_started" and message["recipient_role"] != "operator":
            assert "closed as not started" in message["text"]
            assert "doing the work" not in message["text"]
            assert "Thank you" not in message["text"]
    assert _kinds(pair)[-1] == "Concluded"


# ------------------------------------------------------------------------------ 10. window


async def test_meetings_land_in_the_mentors_window_on_the_agreed_weekday_and_hour(
    lifecycle: Lifecycle,
) -> None:
    window = Window.parse("tue,thu 14:00-17:00 Europe/Berlin")
    # A week from an agreement made on a Tuesday or Thursday afternoon falls inside the window
    # after 14:00; start on another day so the first slot is the window's first hour.
    start = await lifecycle.now()
    while any(
        (start + lead).astimezone(BERLIN).weekday() in (TUESDAY, THURSDAY)
        for lead in (timedelta(0), timedelta(hours=1))
    ):
        midnight = datetime.combine(
            start.astimezone(BERLIN).date() + timedelta(days=1), time(0), tzinfo=BERLIN
        )
        start = midnight + timedelta(minutes=1)
    await lifecycle.sleep_until(start)

    steady = await lifecycle.start(request(program="eng-steady"))  # bi-weekly, as proposed
    changed = await lifecycle.start(request(program="eng-changed"))  # monthly before meeting 1
    await _onboard(steady, window=window)
    await _onboard(changed, window=window)

    for pair in (steady, changed):
        records = pair.ledger()
        [signed] = _of(records, ev.AgreementSigned)
        first = _first_meeting(records)
        local = first.astimezone(BERLIN)
        assert local.weekday() in (TUESDAY, THURSDAY), local
        assert local.time() == time(14, 0), local
        assert first - signed.occurred_at >= timedelta(days=7)
        assert first == _first_window_slot(signed.occurred_at + timedelta(days=7))
        assert isinstance(signed.event, ev.AgreementSigned)
        assert signed.event.terms.first_meeting_at == first

    confirmed = _first_meeting(changed.ledger())
    await changed.do(c.ChangeCadence(actor=OPERATOR, cadence=MONTHLY, reason="busy quarter"))
    meeting = (await changed.status()).state.next_meeting
    assert meeting is not None and meeting.number == 1
    assert meeting.scheduled_at == confirmed, "the confirmed first meeting stays put"
    assert not _of(changed.ledger(), ev.MeetingRescheduled)
    assert changed.sent()[("meeting_rescheduled", "mentee")] == 0

    latest = max(_first_meeting(steady.ledger()), confirmed)
    await lifecycle.sleep_until(latest + timedelta(hours=1))
    # Bi-weekly two weeks on; monthly on the same weekday of the next month, 4 or 5 weeks on.
    for pair, days in ((steady, {14}), (changed, {28, 35})):
        held = _first_meeting(pair.ledger())
        await pair.do(log(MENTEE, held))
        upcoming = (await pair.status()).state.next_meeting
        assert upcoming is not None and upcoming.number == 2
        before, after = held.astimezone(BERLIN), upcoming.scheduled_at.astimezone(BERLIN)
        assert after.weekday() == before.weekday(), (before, after)
        assert after.time() == time(14, 0), after
        assert (after.date() - before.date()).days in days, (before, after)
        await pair.handle.terminate("test over")
