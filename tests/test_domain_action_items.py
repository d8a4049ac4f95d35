"""Action items start open and move only when someone reports on them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mentorship import commands as c
from mentorship.decider import Rejected
from mentorship.vocabulary import ItemStatus
from tests.factories import MENTEE, MENTOR, Journey, log


def _after_first_meeting() -> Journey:
    journey = Journey()
    journey.onboard()
    first = journey.state.meetings[0].scheduled_at
    journey.advance(first + timedelta(hours=1))
    journey.do(log(MENTOR, first, action_items=["Draft the RFC"]))
    return journey


def test_a_new_action_item_is_open_until_someone_reports_on_it() -> None:
    journey = _after_first_meeting()
    [item] = journey.state.open_items()
    assert item.status is ItemStatus.OPEN
    journey.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.IN_PROGRESS))
    assert journey.state.action_items[item.id].status is ItemStatus.IN_PROGRESS


def test_reporting_an_item_back_to_open_is_refused_with_the_choices() -> None:
    journey = _after_first_meeting()
    [item] = journey.state.open_items()
    with pytest.raises(Rejected, match="report in_progress, done or blocked"):
        journey.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.OPEN))
