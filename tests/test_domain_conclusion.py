"""Conclusion and operator actions: reflections with a deadline, pause, extend, cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mentorship import commands as c
from mentorship.decider import Rejected
from mentorship.enrolment import check_start
from mentorship.events import Kind, Outcome
from mentorship.policy import Policy
from mentorship.revisions import CURRENT, Revision, Rules
from mentorship.state import Phase
from mentorship.waiting import waiting_for
from tests.factories import (
    ALICE,
    MENTEE,
    MENTOR,
    OPERATOR,
    T0,
    Journey,
    future,
    log,
    mentor_feedback,
    reflection,
    request,
)


def test_either_party_may_conclude_early_and_reflections_finish_it() -> None:
    j = Journey()
    j.onboard()
    j.do(c.Conclude(actor=MENTEE, reason="changed teams"))
    assert j.state.phase is Phase.CONCLUDING
    assert len(j.notified("reflection_request")[0].recipients) == 2
    j.do(reflection(MENTEE))
    j.do(reflection(MENTOR))
    assert j.state.outcome is Outcome.CONCLUDED_EARLY
    summary = j.notified("summary")[0]
    assert {r.role.value for r in summary.recipients} == {"mentor", "mentee", "operator"}
    assert summary.context["objectives_met"] == ["Lead a design review end to end"]


def test_reflections_have_a_deadline_so_conclusion_always_finishes() -> None:
    j = Journey()
    j.onboard()
    j.do(c.Conclude(actor=MENTOR, reason="moving abroad"))
    j.do(reflection(MENTOR))
    j.advance_by(days=14)
    assert j.state.phase is Phase.CONCLUDED
    assert j.history[-1].cause == "the reflection deadline passed"


def test_a_situational_relationship_concludes_at_its_end_date() -> None:
    j = Journey(request(kind=Kind.SITUATIONAL, end_date=future(60), topic="Launch"))
    j.onboard()
    j.advance(datetime(2026, 3, 6, tzinfo=UTC))
    assert j.state.phase is Phase.CONCLUDING
    assert j.state.conclusion is not None and j.state.conclusion.outcome is Outcome.COMPLETED
    assert all(m.scheduled_at < datetime(2026, 3, 6, tzinfo=UTC) for m in j.state.meetings)


def test_situational_needs_a_future_end_date() -> None:
    with pytest.raises(ValidationError, match="situational relationship needs an end_date"):
        request(kind=Kind.SITUATIONAL)
    with pytest.raises(ValueError, match="end_date"):
        check_start(request(end_date=T0.date()), T0)


def test_the_same_person_cannot_mentor_themselves() -> None:
    with pytest.raises(ValidationError, match="same person"):
        request(mentee=ALICE)


def test_pause_and_resume_rebase_every_timer() -> None:
    j = Journey()
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    review = j.state.next_review_at
    assert review is not None
    j.do(c.Pause(actor=OPERATOR, reason="mentor on leave"))
    j.advance_by(days=30)
    assert not j.notified("meeting_prep"), "no prompts while paused"
    j.do(c.Resume(actor=OPERATOR))
    assert j.state.phase is Phase.ACTIVE
    assert j.state.next_review_at == review + timedelta(days=30)
    # The meeting that passed during the pause comes back on the agreed weekday and time,
    # the next such slot after the resume (bi-weekly: 4 weeks on), not the pause length later.
    assert j.state.meetings[0].scheduled_at == first + timedelta(weeks=4)
    assert j.rebuilt() == j.state


def test_before_v0_5_resume_moved_meetings_by_the_pause_length() -> None:
    j = Journey(rules=Rules(set(CURRENT) - {Revision.CALENDAR_FOLLOWS_SCHEDULE}))
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.do(c.Pause(actor=OPERATOR, reason="mentor on leave"))
    j.advance_by(days=30)
    j.do(c.Resume(actor=OPERATOR))
    assert j.state.meetings[0].scheduled_at == first + timedelta(days=30)
    assert not [n for n in j.notifications if n.invite is not None], "nothing told calendars then"


def test_only_the_operator_pauses() -> None:
    j = Journey()
    with pytest.raises(Rejected) as err:
        j.do(c.Pause(actor=MENTEE, reason="busy"))
    assert err.value.field == "actor.role"


def test_extending_the_end_date_moves_the_conclusion() -> None:
    j = Journey(request(kind=Kind.SITUATIONAL, end_date=future(30)))
    j.onboard()
    j.do(c.ExtendEndDate(actor=OPERATOR, end_date=future(90)))
    j.advance(T0 + timedelta(days=60))
    assert j.state.phase is not Phase.CONCLUDING
    j.advance(T0 + timedelta(days=91))
    assert j.state.phase is Phase.CONCLUDING
    with pytest.raises(Rejected, match="end_date"):
        Journey(request(end_date=future(30))).do(
            c.ExtendEndDate(actor=OPERATOR, end_date=future(10))
        )


def test_cancel_ends_at_once() -> None:
    j = Journey()
    j.onboard()
    j.do(c.Cancel(actor=OPERATOR, reason="duplicate pairing"))
    assert j.state.outcome is Outcome.CANCELLED
    with pytest.raises(Rejected, match="concluded"):
        j.do(c.Resume(actor=OPERATOR))


def test_conclusion_closes_the_open_review_loop_and_items_saying_why() -> None:
    j = Journey(request(policy=Policy(feedback_every_meetings=1)))
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(hours=1))
    j.do(log(MENTEE, first, action_items=["Draft the RFC"]))
    j.do(mentor_feedback(1))
    j.do(c.RequestReview(actor=MENTEE, reason="my role changed"))
    assert j.state.open_review is not None and j.state.open_loop is not None
    j.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    closing = [r for r in j.history if r.event.type == "OpenWorkClosed"]
    assert len(closing) == 1
    assert "cancelled" in closing[0].event.reason  # type: ignore[union-attr]
    assert j.kinds()[-1] == "Concluded"
    assert j.state.open_review is None and j.state.open_loop is None
    assert j.state.open_items() == []
    assert waiting_for(j.state) == []
    assert j.rebuilt() == j.state


def test_cancelling_an_at_risk_pair_clears_the_flag_before_it_concludes() -> None:
    j = Journey()
    j.onboard()
    j.advance_by(days=7 + 14 + 3 + 1)  # two meetings missed: at risk
    assert j.state.at_risk
    j.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    assert j.kinds()[-2:] == ["AtRiskCleared", "Concluded"]
    assert not j.state.at_risk
