"""A mentor's capacity is counted the way people count meetings (issue: capacity arithmetic)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind
from mentorship.decider import Rejected
from mentorship.decisions import decide
from mentorship.revisions import ORIGINAL
from mentorship.state import Phase
from tests.factories import (
    BIWEEKLY,
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    Journey,
    commitment,
    goals,
    terms,
)

WEEKLY = Cadence(kind=CadenceKind.WEEKLY)


def _agreeing(capacity: float, cadence: Cadence) -> Journey:
    journey = Journey()
    journey.do(goals(cadence=cadence))
    journey.do(commitment(capacity=capacity))
    return journey


def test_a_mentor_with_capacity_two_can_agree_to_bi_weekly() -> None:
    journey = _agreeing(2, BIWEEKLY)
    journey.do(c.ConfirmAgreement(actor=MENTEE))
    journey.do(c.ConfirmAgreement(actor=MENTOR))
    assert journey.state.phase is Phase.ACTIVE
    assert journey.state.cadence == BIWEEKLY


def test_a_mentor_with_capacity_four_can_agree_to_weekly() -> None:
    journey = _agreeing(4, WEEKLY)
    journey.do(c.ConfirmAgreement(actor=MENTEE))
    journey.do(c.ConfirmAgreement(actor=MENTOR))
    assert journey.state.phase is Phase.ACTIVE


def test_a_cadence_past_capacity_is_refused_naming_the_cadences_that_fit() -> None:
    journey = _agreeing(1, BIWEEKLY)
    with pytest.raises(Rejected) as refused:
        journey.do(c.ConfirmAgreement(actor=MENTEE))
    assert refused.value.field == "terms.cadence"
    assert "biweekly is 2 meetings a month, more than the mentor's capacity of 1" in str(
        refused.value
    )
    assert "monthly or quarterly fit" in str(refused.value)
    assert "--cadence monthly" in str(refused.value)


def test_an_operator_cadence_change_counts_the_same_way() -> None:
    journey = Journey()
    journey.do(goals(cadence=MONTHLY))
    journey.do(commitment(capacity=2))
    agreed = terms(journey.now + timedelta(days=7), MONTHLY)
    journey.do(c.ConfirmAgreement(actor=MENTEE, terms=agreed))
    journey.do(c.ConfirmAgreement(actor=MENTOR, terms=agreed))
    journey.do(c.ChangeCadence(actor=OPERATOR, cadence=BIWEEKLY, reason="more time"))
    assert journey.state.cadence == BIWEEKLY
    with pytest.raises(Rejected, match="weekly is 4 meetings a month"):
        journey.do(c.ChangeCadence(actor=OPERATOR, cadence=WEEKLY, reason="more"))


def test_a_run_started_before_the_revision_keeps_the_calendar_arithmetic() -> None:
    """Its history was decided that way; replaying it must decide the same."""
    journey = _agreeing(2, BIWEEKLY)
    with pytest.raises(Rejected, match=r"biweekly is 2\.2 meetings a month"):
        decide(journey.state, c.ConfirmAgreement(actor=MENTEE), journey.now, ORIGINAL)
