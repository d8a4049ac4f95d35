"""Relationships driven through the pure domain that, between them, record every event type.

The narrative, history and verify tests share them: the sentences are checked on real
events, and the ledgers that auditors read are written from them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ledger.records import to_entry
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind
from mentorship.commands import ItemStatus, ReviewDecision
from mentorship.events import Recorded
from mentorship.participants import Actor
from tests.factories import (
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    T0,
    Journey,
    future,
    log,
    mentee_feedback,
    mentor_feedback,
    reflection,
    request,
    review,
)


def _hold_next(j: Journey, actor: Actor = MENTOR, **extra: Any) -> int:
    meeting = j.state.next_meeting
    assert meeting is not None
    j.advance(meeting.scheduled_at + timedelta(hours=1))
    j.do(log(actor, meeting.scheduled_at, **extra))
    return meeting.number


def eventful(rid: str = "r1") -> Journey:
    """Onboarding to conclusion with a bit of everything: agenda, reschedule, wins, a late
    feedback loop, missed meetings, reviews (one evolves the cadence), operator actions."""
    j = Journey(request(end_date=future(400)), rid=rid)
    j.advance_by(days=3)  # an onboarding reminder goes out
    first = j.now + timedelta(days=7)
    j.onboard(first)
    j.advance(first - timedelta(days=2))  # prep prompt
    j.do(c.SubmitAgenda(actor=MENTEE, meeting_number=1, items=["Design review dry run"]))
    j.do(
        c.RescheduleMeeting(
            actor=MENTOR, meeting_number=1, new_time=first + timedelta(days=1), reason="travel"
        )
    )
    _hold_next(j, MENTEE, wins=["Ran the design review"], action_items=["Read the RFC"])
    _hold_next(j)
    _hold_next(j)  # the third meeting asks for feedback
    j.do(mentor_feedback(1))
    # the mentee answers so late that the early review has opened
    j.advance(j.state.loops[0].due_at + timedelta(days=2, minutes=1))
    j.do(mentee_feedback(1))
    for item in j.state.open_items():
        j.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.DONE, note="ok"))
    missed = j.state.next_meeting
    assert missed is not None
    j.advance(missed.scheduled_at + timedelta(days=14 + 3, hours=1))  # missed meetings, reviews
    j.advance_by(days=3)
    number = j.state.reviews[-1].number
    evolve = c.Evolution(cadence=MONTHLY)
    j.do(review(MENTOR, number, ReviewDecision.EVOLVE, evolution=evolve))
    j.do(review(MENTEE, number, ReviewDecision.CONTINUE))
    _hold_next(j, action_items=["Write the retro"])  # still open when the pair concludes
    every_3_weeks = Cadence(kind=CadenceKind.EVERY_N_DAYS, every_days=21)
    j.do(c.ChangeCadence(actor=OPERATOR, cadence=every_3_weeks, reason="mentor asked"))
    j.do(c.Pause(actor=OPERATOR, reason="parental leave"))
    j.advance_by(days=10)
    j.do(c.Resume(actor=OPERATOR))
    j.do(c.ExtendEndDate(actor=OPERATOR, end_date=future(500)))
    j.do(c.Conclude(actor=MENTEE, reason="goals reached early"))
    j.do(reflection(MENTOR))
    j.do(reflection(MENTEE))
    return j


def never_started(rid: str = "r1") -> Journey:
    """Nobody answers: reminders, an escalation to the operator, then 'not started'."""
    j = Journey(rid=rid)
    j.advance_by(days=30)
    return j


def write(ledger: Ledger, history: list[Recorded]) -> None:
    ledger.append([to_entry(r) for r in history])


__all__ = ["T0", "eventful", "never_started", "write"]
