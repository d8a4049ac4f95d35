"""An unanswered review leads to one check-in and an operator notice, not a cascade."""

from __future__ import annotations

from datetime import timedelta

from mentorship.cadence import Cadence, CadenceKind
from tests.factories import MENTEE, Journey, log

QUARTERLY = Cadence(kind=CadenceKind.QUARTERLY)


def test_an_unanswered_review_raises_one_check_in_and_keeps_the_next_review_on_its_date() -> None:
    journey = Journey()
    journey.onboard(cadence=QUARTERLY)
    first = journey.state.meetings[0].scheduled_at
    journey.advance(first + timedelta(hours=1))
    journey.do(log(MENTEE, first))
    journey.advance_by(days=91 + 14 + 1)  # the periodic review opens, then passes its deadline
    kinds = journey.kinds()
    assert kinds.count("ReviewDecided") == 1
    raised = [r.event for r in journey.history if r.event.type == "AtRiskRaised"]
    assert len(raised) == 1
    assert raised[0].reasons == ["review 1 went unanswered by mentor and mentee"]  # type: ignore[union-attr]
    assert raised[0].review_at is None, "no early review: it would go unanswered too"  # type: ignore[union-attr]
    assert len(journey.notified("check_in")) == 1
    notices = journey.notified("at_risk")
    assert len(notices) == 1 and notices[0].context["review_at"] == ""
    decided_at = next(r.occurred_at for r in journey.history if r.event.type == "ReviewDecided")
    journey.advance_by(days=30)
    opened = [r for r in journey.history if r.event.type == "ReviewOpened"]
    assert len(opened) == 1, "the next review keeps its periodic date"
    assert journey.state.next_review_at is not None
    assert journey.state.next_review_at - decided_at > timedelta(days=60)
