"""Messages fit what happened: rendered from the notifications the rules really decide."""

from __future__ import annotations

from datetime import timedelta

from activities.rendering import render
from mentorship import commands as c
from mentorship.events import Kind
from mentorship.notifications import Notification
from mentorship.participants import Role
from mentorship.policy import Policy
from tests.factories import MENTEE, MENTOR, OPERATOR, Journey, future, goals, log, request, review


def text_for(n: Notification, role: Role) -> str:
    recipient = next(r for r in n.recipients if r.role is role)
    return render(n, recipient).text


def test_a_relationship_that_never_started_gets_the_not_started_message() -> None:
    journey = Journey()
    journey.do(goals())
    journey.advance_by(days=30)
    assert journey.notified("summary") == []
    [closing] = journey.notified("not_started")
    text = text_for(closing, Role.MENTEE)
    assert "closed as not started" in text
    assert "doing the work" not in text


def test_a_cancelled_pair_is_not_thanked_for_doing_the_work() -> None:
    journey = Journey()
    journey.onboard()
    journey.do(c.Cancel(actor=OPERATOR, reason="the mentee left the company"))
    [summary] = journey.notified("summary")
    text = text_for(summary, Role.MENTEE)
    assert "The program closed it: the mentee left the company." in text
    assert "doing the work" not in text


def test_the_review_outcome_names_who_chose_to_conclude() -> None:
    journey = Journey()
    journey.onboard()
    journey.do(c.RequestReview(actor=MENTEE, reason="my role changed"))
    journey.do(review(MENTOR, 1, c.ReviewDecision.CONTINUE))
    journey.do(review(MENTEE, 1, c.ReviewDecision.CONCLUDE))
    [outcome] = journey.notified("review_outcome")
    to_mentor = " ".join(text_for(outcome, Role.MENTOR).split())
    assert "Bob Mentee has decided to conclude (you chose continue" in to_mentor
    assert "you and" not in to_mentor
    to_mentee = " ".join(text_for(outcome, Role.MENTEE).split())
    assert "you have decided to conclude" in to_mentee


def test_a_win_logged_by_the_mentor_is_announced_as_the_mentors() -> None:
    journey = Journey()
    journey.onboard()
    first = journey.state.meetings[0].scheduled_at
    journey.advance(first + timedelta(hours=1))
    journey.do(log(MENTOR, first, wins=["Shipped the RFC"]))
    [wins] = journey.notified("win_celebration")
    assert "Alice Mentor logged a win from meeting 1 with you" in text_for(wins, Role.MENTEE)
    assert "You logged a win from meeting 1" in text_for(wins, Role.MENTOR)


def test_the_welcome_says_what_kind_of_mentoring_it_is_and_when_it_ends() -> None:
    journey = Journey(request(kind=Kind.SITUATIONAL, topic="the Q3 launch", end_date=future(60)))
    welcome = [n for n in journey.notified("welcome") if n.recipients[0].role is Role.MENTEE]
    text = " ".join(text_for(welcome[0], Role.MENTEE).split())
    assert "situational mentoring for the Q3 launch" in text
    assert "ending" in text and str(future(60).year) in text


def test_a_summary_counts_the_duration_in_program_time() -> None:
    journey = Journey(request(policy=Policy(time_scale=1000)))
    journey.onboard()
    journey.advance(journey.now + timedelta(days=60) / 1000)
    journey.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    [summary] = journey.notified("summary")
    assert summary.context["duration_days"] == 60
