"""Meetings land on the mentor's availability and keep the weekday and time the pair agreed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mentorship import commands as c
from mentorship.availability import Rhythm, Weekday, Window
from mentorship.cadence import Cadence, CadenceKind
from mentorship.participants import Participant
from mentorship.policy import Policy
from mentorship.revisions import ORIGINAL
from tests.factories import (
    ALICE,
    BIWEEKLY,
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    T0,
    Journey,
    commitment,
    goals,
    log,
    request,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
AFTERNOONS = Window.parse("tue,thu 14:00-17:00 Europe/Berlin")


def _agree(j: Journey, window: Window | None = AFTERNOONS, cadence: Cadence = WEEKLY) -> None:
    """Both confirm the mentee's proposal without naming a first meeting."""
    j.do(goals(cadence=cadence))
    j.do(commitment(window=window))
    j.do(c.ConfirmAgreement(actor=MENTEE))
    j.do(c.ConfirmAgreement(actor=MENTOR))


def _first(j: Journey) -> datetime:
    meeting = j.state.meeting(1)
    assert meeting is not None
    return meeting.scheduled_at


def _hold_next(j: Journey) -> datetime:
    meeting = j.state.next_meeting
    assert meeting is not None
    j.advance(meeting.scheduled_at + timedelta(hours=1))
    j.do(log(MENTOR, meeting.scheduled_at))
    upcoming = j.state.next_meeting
    assert upcoming is not None
    return upcoming.scheduled_at


def test_the_first_meeting_is_the_first_window_hour_a_week_or_more_away() -> None:
    j = Journey(at=T0 + timedelta(minutes=17, seconds=3))  # a Monday, 09:17:03 UTC
    _agree(j)
    first = _first(j).astimezone(BERLIN)
    assert first == datetime(2026, 1, 13, 14, 0, tzinfo=BERLIN), "Tuesday 14:00, 8 days on"
    assert j.state.rhythm == Rhythm(
        weekday=Weekday.TUESDAY, at=time(14), time_zone="Europe/Berlin", week_of_month=2
    )
    signed = j.notified("agreement_confirmed")[0]
    assert signed.context["rhythm"] == "Tuesdays at 14:00 Europe/Berlin"


def test_a_window_without_a_zone_is_read_in_the_mentors_time_zone() -> None:
    mentor = Participant(**{**ALICE.model_dump(), "timezone": "America/New_York"})
    j = Journey(request(mentor=mentor))
    _agree(j, Window.parse("wed 9-12"))
    assert j.state.commitment is not None and j.state.commitment.window is not None
    assert j.state.commitment.window.time_zone == "America/New_York"
    first = _first(j).astimezone(ZoneInfo("America/New_York"))
    assert (first.strftime("%A"), first.time()) == ("Wednesday", time(9))


def test_without_a_window_the_first_meeting_is_on_the_hour() -> None:
    j = Journey(at=T0 + timedelta(minutes=42, microseconds=5))
    _agree(j, window=None)
    assert _first(j) == T0 + timedelta(days=7, hours=1)


def test_a_window_too_short_for_the_session_falls_back_to_the_hour() -> None:
    j = Journey()
    _agree(j, Window.parse("fri 10:30-11:00"))
    assert _first(j) == T0 + timedelta(days=7), "no whole hour fits 60 minutes in it"


def test_weekly_meetings_keep_the_weekday_and_local_time_across_daylight_saving() -> None:
    j = Journey(at=datetime(2026, 3, 9, 8, tzinfo=UTC))
    _agree(j)
    slots = [_first(j)] + [_hold_next(j) for _ in range(3)]
    local = [s.astimezone(BERLIN) for s in slots]
    assert {(m.strftime("%a"), m.time()) for m in local} == {("Tue", time(14))}
    assert [s.hour for s in slots] == [13, 13, 12, 12], "UTC moves on 29 March; Berlin does not"


def test_monthly_meetings_keep_their_place_in_the_month() -> None:
    j = Journey()
    _agree(j, cadence=MONTHLY)
    slots = [_first(j)] + [_hold_next(j) for _ in range(3)]
    local = [s.astimezone(BERLIN) for s in slots]
    assert [m.strftime("%a %d %b %H:%M") for m in local] == [
        "Tue 13 Jan 14:00",
        "Tue 10 Feb 14:00",
        "Tue 10 Mar 14:00",
        "Tue 14 Apr 14:00",
    ], "the second Tuesday of every month"


def test_a_moved_meeting_does_not_move_the_rhythm() -> None:
    j = Journey()
    _agree(j)
    first = _first(j)
    wednesday = first + timedelta(days=1)
    j.do(c.RescheduleMeeting(actor=MENTOR, meeting_number=1, new_time=wednesday, reason="travel"))
    after = _hold_next(j).astimezone(BERLIN)
    assert (after.strftime("%a"), after.time()) == ("Tue", time(14))
    assert after.date() == (first + timedelta(days=7)).date()


def test_a_cadence_change_before_the_first_meeting_keeps_the_confirmed_one() -> None:
    j = Journey()
    _agree(j)
    first = _first(j)
    j.do(c.ChangeCadence(actor=OPERATOR, cadence=BIWEEKLY, reason="mentor is busier"))
    assert _first(j) == first
    assert [r.event.type for r in j.history].count("MeetingRescheduled") == 0
    assert _hold_next(j) == first + timedelta(days=14), "then on the new cadence"


def test_a_cadence_change_after_a_meeting_moves_the_next_one_to_the_rhythm() -> None:
    j = Journey()
    _agree(j)
    second = _hold_next(j)
    j.do(c.ChangeCadence(actor=OPERATOR, cadence=MONTHLY, reason="settled in"))
    moved = j.state.next_meeting
    assert moved is not None and moved.scheduled_at != second
    local = moved.scheduled_at.astimezone(BERLIN)
    assert (local.strftime("%a"), local.time()) == ("Tue", time(14))


def test_runs_started_before_v0_3_keep_the_old_first_meeting() -> None:
    j = Journey(at=T0 + timedelta(minutes=17, seconds=3), rules=ORIGINAL)
    _agree(j, cadence=BIWEEKLY)
    assert _first(j) == j.now + timedelta(days=7)
    assert j.state.rhythm is None


def test_a_compressed_program_has_no_calendar_rhythm() -> None:
    j = Journey(request(policy=Policy(time_scale=1000)))
    _agree(j)
    assert j.state.rhythm is None
    assert _first(j) == j.now + timedelta(days=7) / 1000


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tue 17-14", "give the start first"),
        ("someday 9-12", "unknown weekday 'someday'"),
        ("tue 14-17 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("tue 25-26", "not on a clock"),
        ("afternoons", "e.g. 'tue,thu 14:00-17:00'"),
    ],
)
def test_a_window_that_cannot_be_read_says_what_to_write(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Window.parse(text)


def test_day_ranges_and_lists_read_as_people_write_them() -> None:
    assert Window.parse("mon-wed,fri 9-12").days == [
        Weekday.MONDAY,
        Weekday.TUESDAY,
        Weekday.WEDNESDAY,
        Weekday.FRIDAY,
    ]
    assert Window.parse("fri-mon 18:30-21").describe() == "Fri, Sat, Sun, Mon 18:30-21:00"
