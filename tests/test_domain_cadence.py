"""The meeting cadence: prep, reminders, logs, missed meetings, wins, rescheduling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind, add_months
from mentorship.decider import Rejected
from mentorship.events import MeetingScheduled
from mentorship.state import MeetingStatus, Phase
from tests.factories import MENTEE, MENTOR, OPERATOR, T0, Journey, future, log, request


@pytest.mark.parametrize(
    ("text", "kind", "days"),
    [
        ("weekly", CadenceKind.WEEKLY, 7),
        ("bi-weekly", CadenceKind.BIWEEKLY, 14),
        ("every 10 days", CadenceKind.EVERY_N_DAYS, 10),
        ("10d", CadenceKind.EVERY_N_DAYS, 10),
    ],
)
def test_cadence_reads_the_common_spellings(text: str, kind: CadenceKind, days: int) -> None:
    cadence = Cadence.parse(text)
    assert cadence.kind is kind
    assert cadence.nominal == timedelta(days=days)


def test_unknown_cadence_names_the_choices() -> None:
    with pytest.raises(ValueError, match="use weekly, biweekly"):
        Cadence.parse("fortnightly-ish")


def test_monthly_meetings_keep_the_day_of_month() -> None:
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    monthly = Cadence(kind=CadenceKind.MONTHLY)
    assert monthly.after(datetime(2026, 3, 15, tzinfo=UTC)) == datetime(2026, 4, 15, tzinfo=UTC)


def test_prep_prompt_and_reminder_come_before_each_meeting_with_the_agenda() -> None:
    j = Journey()
    first = T0 + timedelta(days=7)
    j.onboard(first)
    j.advance(first - timedelta(days=2))
    prep = j.notified("meeting_prep")
    assert len(prep) == 1 and prep[0].recipients[0].role.value == "mentee"
    j.do(c.SubmitAgenda(actor=MENTEE, meeting_number=1, items=["Design review dry run"]))
    j.advance(first - timedelta(days=1))
    reminder = j.notified("meeting_reminder")
    assert len(reminder) == 1
    assert reminder[0].context["agenda"] == ["Design review dry run"]
    # The calendar has held the slot since the agreement; the reminder only reminds.
    assert reminder[0].invite is None
    agreement = j.notified("agreement_confirmed")[0]
    assert agreement.invite is not None and agreement.invite.sequence == 0
    assert agreement.invite.start == first


def test_logging_a_meeting_schedules_the_next_and_celebrates_wins() -> None:
    j = Journey()
    first = T0 + timedelta(days=7)
    j.onboard(first)
    j.advance(first + timedelta(hours=2))
    j.do(log(MENTOR, first, action_items=["Draft the RFC outline"], wins=["Shipped the RFC"]))
    assert j.state.meetings[0].status is MeetingStatus.HELD
    assert j.state.next_meeting is not None
    assert j.state.next_meeting.scheduled_at == first + timedelta(days=14)
    assert j.notified("win_celebration")[0].context["wins"] == ["Shipped the RFC"]
    assert "m1-1" in j.state.action_items


def test_a_meeting_not_logged_in_the_grace_window_counts_as_missed() -> None:
    j = Journey()
    first = T0 + timedelta(days=7)
    j.onboard(first)
    j.advance(first + timedelta(days=3))
    assert j.state.meetings[0].status is MeetingStatus.MISSED
    missed = [r for r in j.history if r.event.type == "MeetingMissed"]
    assert missed[0].cause == "meeting 1 counted as missed: not logged within 3 days"
    assert j.state.next_meeting is not None and j.state.next_meeting.number == 2


def test_rescheduling_moves_the_invite_and_resets_its_reminders() -> None:
    j = Journey()
    first = T0 + timedelta(days=7)
    j.onboard(first)
    j.advance(first - timedelta(days=1))
    j.do(
        c.RescheduleMeeting(
            actor=MENTEE, meeting_number=1, new_time=first + timedelta(days=3), reason="travel"
        )
    )
    moved = j.notified("meeting_rescheduled")[0]
    assert moved.invite is not None and moved.invite.sequence == 1
    held = j.notified("agreement_confirmed")[0].invite
    assert held is not None and moved.invite.uid == held.uid
    assert moved.invite.start == first + timedelta(days=3)
    j.advance(first + timedelta(days=2))
    assert len(j.notified("meeting_reminder")) == 2


def test_a_future_meeting_cannot_be_logged() -> None:
    j = Journey()
    j.onboard()
    with pytest.raises(Rejected) as err:
        j.do(log(MENTEE, j.now + timedelta(days=1)))
    assert err.value.field == "held_at"


def test_participant_actions_are_refused_while_paused() -> None:
    from tests.factories import OPERATOR

    j = Journey()
    j.onboard()
    j.do(c.Pause(actor=OPERATOR, reason="mentor on leave"))
    assert j.state.phase is Phase.PAUSED
    with pytest.raises(Rejected, match="paused"):
        j.do(log(MENTEE, j.now))


def test_extending_the_end_date_schedules_the_meetings_that_now_fit() -> None:
    j = Journey(request(end_date=future(20)))
    j.onboard()  # first meeting on day 7; the next bi-weekly slot, day 21, is past the end
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(hours=1))
    j.do(log(MENTEE, first))
    assert j.state.next_meeting is None, "nothing fits before the end date"
    j.do(c.ExtendEndDate(actor=OPERATOR, end_date=future(60)))
    upcoming = j.state.next_meeting
    assert upcoming is not None and upcoming.scheduled_at == first + timedelta(days=14)
    assert isinstance(j.history[-1].event, MeetingScheduled)
    [notice] = j.notified("end_date_extended")
    assert notice.context["next_meeting"] == upcoming.scheduled_at.isoformat()


def test_a_meeting_logged_a_little_early_keeps_the_series_on_its_dates() -> None:
    j = Journey()
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.advance(first - timedelta(days=2))
    j.do(log(MENTEE, first - timedelta(days=2, hours=1)))
    nxt = j.state.next_meeting
    assert nxt is not None and nxt.scheduled_at == first + timedelta(days=14)


def test_a_log_far_before_the_next_meeting_is_recorded_as_an_extra_meeting() -> None:
    j = Journey()
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(hours=1))
    j.do(log(MENTEE, first))
    second = j.state.next_meeting
    assert second is not None and second.number == 2
    j.advance_by(days=1)
    j.do(log(MENTEE, j.now - timedelta(hours=1)))
    extra = j.state.meeting(3)
    assert extra is not None and extra.status is MeetingStatus.HELD
    assert j.state.next_meeting == second, "meeting 2 stays on its date"
    scheduled = [r for r in j.history if r.event.type == "MeetingScheduled"][-1]
    assert scheduled.cause.startswith("an extra meeting, held 13 days before meeting 2")


def test_a_log_far_before_the_meeting_it_names_is_refused_saying_how_to_record_it() -> None:
    j = Journey()
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(hours=1))
    j.do(log(MENTEE, first))
    j.advance_by(days=1)
    with pytest.raises(Rejected, match="too early to be that meeting") as refused:
        j.do(log(MENTEE, j.now - timedelta(hours=1), meeting_number=2))
    assert refused.value.field == "held_at"
    assert "recorded as an extra meeting" in str(refused.value)
