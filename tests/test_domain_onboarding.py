"""Onboarding rules: expectations on both sides, one agreement, deadlines that end it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mentorship import commands as c
from mentorship import events as ev
from mentorship.cadence import Cadence, CadenceKind
from mentorship.decider import Rejected
from mentorship.events import Outcome, Terms
from mentorship.participants import Actor, Role
from mentorship.state import Phase
from tests.factories import MENTEE, MENTOR, OPERATOR, T0, Journey, commitment, goals, terms


def test_agreement_needs_both_parties_to_confirm_the_same_terms() -> None:
    j = Journey()
    j.do(goals())
    j.do(commitment())
    first = T0 + timedelta(days=7)
    j.do(c.ConfirmAgreement(actor=MENTEE, terms=terms(first)))
    assert j.state.phase is Phase.ONBOARDING
    later = terms(first + timedelta(days=1))
    j.do(c.ConfirmAgreement(actor=MENTOR, terms=later))
    assert j.state.confirmed_by == [Role.MENTOR], "new terms void the mentee's confirmation"
    j.do(c.ConfirmAgreement(actor=MENTEE))
    assert j.state.phase is Phase.ACTIVE
    assert j.state.agreement is not None
    assert j.state.agreement == ev.stored(Terms, later)
    assert (
        j.state.next_meeting is not None
        and j.state.next_meeting.scheduled_at == later.first_meeting_at
    )
    assert [n.kind.value for n in j.notifications][-1] == "agreement_confirmed"


def test_a_mentee_cannot_sign_for_the_mentor() -> None:
    j = Journey()
    with pytest.raises(Rejected) as err:
        j.do(commitment(actor=Actor(role=Role.MENTEE, id="bob")))
    assert err.value.field == "actor.role"
    with pytest.raises(Rejected) as err:
        j.do(commitment(actor=Actor(role=Role.MENTOR, id="mallory")))
    assert err.value.field == "actor.id"
    assert j.state.seq == 1, "a rejected command changes nothing"


def test_cadence_must_respect_the_mentors_capacity() -> None:
    j = Journey()
    j.do(goals(cadence=Cadence(kind=CadenceKind.WEEKLY)))
    j.do(commitment(capacity=2))
    with pytest.raises(Rejected) as err:
        j.do(c.ConfirmAgreement(actor=MENTEE))
    assert err.value.field == "terms.cadence"
    assert "capacity of 2" in err.value.message


def test_confirming_before_goals_and_commitment_is_refused() -> None:
    j = Journey()
    with pytest.raises(Rejected, match="goals"):
        j.do(c.ConfirmAgreement(actor=MENTEE))


def test_reminders_go_to_whoever_is_missing_then_the_operator_then_not_started() -> None:
    j = Journey()
    j.do(goals())
    j.advance_by(days=13)
    reminders = j.notified("onboarding_reminder")
    assert len(reminders) == 4  # days 3, 6, 9, 12
    assert {r.role.value for n in reminders for r in n.recipients} == {"mentor"}, (
        "the mentee's part is in; only the mentor can act"
    )
    assert reminders[0].context["asks"] == ["commitment"]
    j.advance_by(days=1)
    escalation = j.notified("onboarding_escalation")
    assert len(escalation) == 1
    assert escalation[0].recipients[0].role is Role.OPERATOR
    j.advance_by(days=7)
    assert j.state.phase is Phase.CONCLUDED
    assert j.state.outcome is Outcome.NOT_STARTED
    assert j.kinds()[-1] == "Concluded"


def test_the_mentees_proposal_is_the_default_agreement() -> None:
    j = Journey()
    j.do(goals())
    j.do(commitment())
    j.do(c.ConfirmAgreement(actor=MENTEE))
    j.do(c.ConfirmAgreement(actor=MENTOR))
    assert j.state.agreement is not None
    assert j.state.agreement.cadence.kind is CadenceKind.BIWEEKLY
    assert j.state.agreement.first_meeting_at == T0 + timedelta(days=7)


def test_fold_of_the_events_equals_the_live_state() -> None:
    j = Journey()
    j.onboard()
    assert j.rebuilt() == j.state


def test_onboarding_reminders_go_only_to_whoever_can_act_and_say_what() -> None:
    j = Journey()
    j.do(commitment())
    j.advance_by(days=3, minutes=1)
    reminders = j.notified("onboarding_reminder")
    assert [n.recipients[0].role for n in reminders] == [Role.MENTEE], (
        "the mentor cannot confirm before the mentee's goals exist"
    )
    assert reminders[0].context["asks"] == ["goals"]
    j.do(goals())
    j.advance_by(days=3)
    latest = j.notified("onboarding_reminder")[1:]
    assert {n.recipients[0].role for n in latest} == {Role.MENTOR, Role.MENTEE}
    assert all(n.context["asks"] == ["confirm"] for n in latest)


def test_pausing_during_onboarding_rebases_every_reminder_instead_of_a_burst() -> None:
    j = Journey()
    j.do(goals())
    j.advance_by(days=4)  # one reminder went out on day 3
    assert len(j.notified("onboarding_reminder")) == 1
    j.do(c.Pause(actor=OPERATOR, reason="mentor travelling"))
    j.advance_by(days=10)
    j.do(c.Resume(actor=OPERATOR))
    resumed_at = j.now
    j.advance_by(minutes=1)
    assert len(j.notified("onboarding_reminder")) == 1, "no burst of the reminders it missed"
    j.advance_by(days=2)
    reminders = [r for r in j.history if r.event.type == "ReminderSent"]
    assert len(reminders) == 2
    assert reminders[1].occurred_at == resumed_at + timedelta(days=2), "day 6 plus the pause"
    assert j.state.onboarding_deadline == T0 + timedelta(days=14 + 10)
