"""Feedback loops, warning signs and re-evaluation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind
from mentorship.commands import ItemStatus, ReviewDecision
from mentorship.decider import Rejected
from mentorship.events import ReviewReason
from mentorship.health import risk_reasons
from mentorship.reviews import decide_review
from mentorship.revisions import ORIGINAL
from mentorship.state import Phase
from tests.factories import (
    MENTEE,
    MENTOR,
    MONTHLY,
    T0,
    Journey,
    log,
    mentee_feedback,
    mentor_feedback,
    review,
)


def _hold_meetings(j: Journey, count: int) -> None:
    for _ in range(count):
        meeting = j.state.next_meeting
        assert meeting is not None
        j.advance(meeting.scheduled_at + timedelta(hours=1))
        j.do(log(MENTOR, meeting.scheduled_at, notes="Worked through the RFC"))


def test_every_third_meeting_asks_both_sides_for_feedback() -> None:
    j = Journey()
    j.onboard()
    _hold_meetings(j, 2)
    assert not j.notified("feedback_request")
    _hold_meetings(j, 1)
    request = j.notified("feedback_request")
    assert len(request) == 1
    assert {r.role.value for r in request[0].recipients} == {"mentor", "mentee"}


def test_mentor_feedback_becomes_an_action_plan_and_the_report_back_closes_the_loop() -> None:
    j = Journey()
    j.onboard()
    _hold_meetings(j, 3)
    j.do(mentor_feedback(1))
    plan = j.notified("action_plan")[0]
    assert plan.context["items"][0]["id"] == "f1-1"
    j.do(mentee_feedback(1))
    assert j.state.loops[0].closed_at is None, "the plan is not done yet"
    j.advance_by(days=12)
    assert j.notified("report_back_reminder"), "the mentee is reminded before the item is due"
    j.do(c.ReportProgress(actor=MENTEE, item_id="f1-1", status=ItemStatus.DONE, note="done"))
    assert j.state.loops[0].closed_at is not None
    assert j.notified("loop_closed")


@pytest.mark.parametrize(
    "strength",
    ["good job", "keep it up", "Nice", "You are lazy about preparing for the reviews"],
)
def test_vague_or_personal_feedback_is_rejected(strength: str) -> None:
    with pytest.raises(ValidationError) as err:
        c.GiveMentorFeedback(
            actor=MENTOR,
            loop_number=1,
            strengths=[strength],
            development_areas=mentor_feedback(1).development_areas,
        )
    assert "strengths" in str(err.value)


def test_feedback_without_a_development_area_is_rejected() -> None:
    with pytest.raises(ValidationError, match="development_areas"):
        c.GiveMentorFeedback(
            actor=MENTOR,
            loop_number=1,
            strengths=mentor_feedback(1).strengths,
            development_areas=[],
        )


def test_two_missed_meetings_raise_a_check_in_and_an_early_review() -> None:
    j = Journey()
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(days=14 + 3))
    assert j.state.at_risk
    assert "2 meetings missed in a row" in j.state.risk_reasons
    check_in = j.notified("check_in")
    assert len(check_in) == 1 and {r.role.value for r in check_in[0].recipients} == {
        "mentor",
        "mentee",
    }
    assert j.notified("at_risk")[0].recipients[0].role.value == "operator"
    j.advance_by(days=2)
    assert j.state.phase is Phase.UNDER_REVIEW
    assert j.state.reviews[0].reason is ReviewReason.AT_RISK


def test_activity_clears_the_at_risk_flag() -> None:
    j = Journey()
    j.onboard()
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(days=17))
    assert j.state.at_risk
    meeting = j.state.next_meeting
    assert meeting is not None
    j.advance(meeting.scheduled_at + timedelta(hours=1))
    j.do(log(MENTEE, meeting.scheduled_at))
    assert not j.state.at_risk
    assert j.kinds()[-2:] == ["MeetingScheduled", "AtRiskCleared"]


def test_silence_longer_than_the_cadence_allows_is_a_warning_sign() -> None:
    j = Journey()
    j.onboard()
    state = j.state.model_copy(update={"missed_in_a_row": 0})
    quiet_until = T0 + timedelta(days=29)
    assert any("no activity" in r for r in risk_reasons(state, quiet_until))
    assert not any("no activity" in r for r in risk_reasons(state, T0 + timedelta(days=27)))


def test_review_decision_any_conclude_wins_then_evolve_then_continue() -> None:
    evolve = c.Evolution(cadence=MONTHLY)
    assert (
        decide_review([(ReviewDecision.CONTINUE, None), (ReviewDecision.CONCLUDE, None)])[0]
        is ReviewDecision.CONCLUDE
    )
    decision, evolution = decide_review(
        [(ReviewDecision.EVOLVE, evolve), (ReviewDecision.CONTINUE, None)]
    )
    assert (
        decision is ReviewDecision.EVOLVE and evolution is not None and evolution.cadence == MONTHLY
    )
    assert decide_review([])[0] is ReviewDecision.CONTINUE


def test_of_two_proposed_cadences_the_thinner_wins() -> None:
    weekly = c.Evolution(cadence=Cadence(kind=CadenceKind.WEEKLY))
    monthly = c.Evolution(cadence=MONTHLY, add_objectives=["Mentor a new hire"])
    _, merged = decide_review([(ReviewDecision.EVOLVE, weekly), (ReviewDecision.EVOLVE, monthly)])
    assert merged is not None and merged.cadence == MONTHLY
    assert merged.add_objectives == ["Mentor a new hire"]


def _evolve_to_monthly(j: Journey) -> None:
    j.onboard()
    j.do(c.RequestReview(actor=MENTEE, reason="my project changed"))
    evolve = c.Evolution(cadence=MONTHLY, retire_objectives=["o2"])
    j.do(review(MENTEE, 1, ReviewDecision.EVOLVE, evolution=evolve))
    j.do(review(MENTOR, 1, ReviewDecision.CONTINUE))


def test_a_review_that_evolves_thins_the_cadence_and_keeps_the_confirmed_first_meeting() -> None:
    j = Journey()
    _evolve_to_monthly(j)
    assert j.state.phase is Phase.ACTIVE
    assert j.state.cadence == MONTHLY
    assert "o2" not in j.state.objectives
    assert j.state.next_meeting is not None
    assert j.state.next_meeting.scheduled_at == T0 + timedelta(days=7)
    assert j.rebuilt() == j.state


def test_before_v0_3_an_evolve_before_the_first_meeting_moved_it_to_the_new_cadence() -> None:
    j = Journey(rules=ORIGINAL)
    _evolve_to_monthly(j)
    assert j.state.next_meeting is not None
    assert j.state.next_meeting.scheduled_at == T0 + timedelta(days=31)


def test_evolve_without_a_change_is_rejected() -> None:
    j = Journey()
    j.onboard()
    j.do(c.RequestReview(actor=MENTOR, reason="check in on goals"))
    with pytest.raises(Rejected) as err:
        j.do(review(MENTOR, 1, ReviewDecision.EVOLVE))
    assert err.value.field == "evolution"


def test_an_unanswered_review_still_decides_by_its_deadline() -> None:
    j = Journey()
    j.onboard()
    j.do(c.RequestReview(actor=MENTOR, reason="check in on goals"))
    j.do(review(MENTOR, 1, ReviewDecision.CONTINUE))
    j.advance_by(days=14)
    decided = [r for r in j.history if r.event.type == "ReviewDecided"]
    assert decided and decided[0].cause == "review 1 passed its deadline"
    assert j.state.phase is Phase.ACTIVE


def test_recovering_before_the_early_review_restores_the_periodic_rhythm() -> None:
    j = Journey()
    j.onboard()
    periodic = j.state.next_review_at
    first = j.state.meetings[0].scheduled_at
    j.advance(first + timedelta(days=17))
    assert j.state.at_risk and j.state.next_review_at != periodic
    meeting = j.state.next_meeting
    assert meeting is not None
    j.do(log(MENTEE, j.now))
    assert not j.state.at_risk
    assert j.state.next_review_at == periodic
    assert j.rebuilt() == j.state


def test_only_the_latest_meeting_notes_travel_with_the_state() -> None:
    j = Journey()
    j.onboard()
    _hold_meetings(j, 5)
    notes = [m.notes for m in j.state.meetings if m.status.value == "held"]
    assert notes == [
        "",
        "",
        "Worked through the RFC",
        "Worked through the RFC",
        "Worked through the RFC",
    ]
    logged = [r.event for r in j.history if r.event.type == "MeetingLogged"]
    assert all(e.notes == "Worked through the RFC" for e in logged)  # type: ignore[union-attr]
