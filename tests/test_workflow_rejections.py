"""Bad input is refused before it reaches history: wrong phase, wrong actor, malformed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from mentorship import commands as c
from mentorship.cadence import MeetingFormat
from mentorship.commands import ItemStatus, ReviewDecision
from tests.factories import (
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    T0,
    commitment,
    goals,
    mentee_feedback,
    mentor_feedback,
    reflection,
    request,
    review,
)
from tests.lifecycle import Lifecycle, Pair
from workflows.contract import UPDATES


def _samples() -> dict[type[c.Command], tuple[c.Command, c.Command]]:
    """Per action: (a well-formed command, the same from the wrong person)."""
    from mentorship.participants import Actor, Role

    mallory = Actor(role=Role.MENTEE, id="mallory")
    agenda = c.SubmitAgenda(actor=MENTEE, meeting_number=1, items=["RFC review"])
    held = c.LogMeeting(actor=MENTOR, held_at=T0, duration_minutes=30)
    moved = c.RescheduleMeeting(actor=MENTEE, meeting_number=1, new_time=T0, reason="travel")
    progress = c.ReportProgress(actor=MENTEE, item_id="m1-1", status=ItemStatus.DONE)
    ask = c.RequestReview(actor=MENTEE, reason="my goals changed")
    rated = review(MENTEE, 1, ReviewDecision.CONTINUE)
    end = c.Conclude(actor=MENTEE, reason="moving on")
    extend = c.ExtendEndDate(actor=OPERATOR, end_date=date(2031, 1, 1))
    cadence = c.ChangeCadence(actor=OPERATOR, cadence=MONTHLY, reason="busy season")
    return {
        c.SubmitGoals: (goals(), goals(actor=mallory)),
        c.SubmitCommitment: (commitment(), commitment(actor=MENTEE)),
        c.ConfirmAgreement: (c.ConfirmAgreement(actor=MENTEE), c.ConfirmAgreement(actor=OPERATOR)),
        c.SubmitAgenda: (agenda, agenda.model_copy(update={"actor": MENTOR})),
        c.LogMeeting: (held, held.model_copy(update={"actor": mallory})),
        c.RescheduleMeeting: (moved, moved.model_copy(update={"actor": OPERATOR})),
        c.ReportProgress: (progress, progress.model_copy(update={"actor": OPERATOR})),
        c.GiveMentorFeedback: (
            mentor_feedback(1),
            mentor_feedback(1).model_copy(update={"actor": MENTEE}),
        ),
        c.GiveMenteeFeedback: (
            mentee_feedback(1),
            mentee_feedback(1).model_copy(update={"actor": MENTOR}),
        ),
        c.RequestReview: (ask, ask.model_copy(update={"actor": mallory})),
        c.SubmitReview: (rated, rated.model_copy(update={"actor": OPERATOR})),
        c.Conclude: (end, end.model_copy(update={"actor": mallory})),
        c.SubmitReflection: (reflection(MENTEE), reflection(OPERATOR)),
        c.Pause: (c.Pause(actor=OPERATOR, reason="leave"), c.Pause(actor=MENTOR, reason="leave")),
        c.Resume: (c.Resume(actor=OPERATOR), c.Resume(actor=MENTEE)),
        c.ExtendEndDate: (extend, extend.model_copy(update={"actor": MENTOR})),
        c.ChangeCadence: (cadence, cadence.model_copy(update={"actor": MENTEE})),
        c.Cancel: (
            c.Cancel(actor=OPERATOR, reason="duplicate"),
            c.Cancel(actor=MENTOR, reason="x"),
        ),
    }


# Actions that are allowed while onboarding are tested for phase on a concluding relationship.
ALLOWED_IN_ONBOARDING = {
    c.SubmitGoals,
    c.SubmitCommitment,
    c.ConfirmAgreement,
    c.Conclude,
    c.Pause,
    c.ExtendEndDate,
    c.Cancel,
}


def _reason(err: WorkflowUpdateFailedError) -> str:
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


async def _accepted_updates(pair: Pair) -> int:
    """Updates the workflow let into its history (a validator's rejection never gets there)."""
    history = await pair.handle.fetch_history()
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum(1 for e in history.events if e.event_type == accepted)


async def _assert_rejected(pair: Pair, name: str, payload: Any, field: str) -> None:
    before = await _accepted_updates(pair)
    state_before = (await pair.status()).state
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await pair.handle.execute_update(name, payload)
    message = _reason(err.value)
    assert field in message, f"{name}: '{message}' does not name {field}"
    assert await _accepted_updates(pair) == before, f"{name}: a rejected update reached history"
    assert (await pair.status()).state == state_before


async def _concluding(lifecycle: Lifecycle) -> Pair:
    pair = await lifecycle.start(request(program="eng-concluding"))
    await pair.do(goals())
    await pair.do(commitment())
    await pair.do(c.ConfirmAgreement(actor=MENTEE))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    await pair.do(c.Conclude(actor=MENTOR, reason="wrapping up"))
    return pair


async def test_every_action_refuses_the_wrong_phase_the_wrong_actor_and_malformed_input(
    lifecycle: Lifecycle,
) -> None:
    onboarding = await lifecycle.start(request())
    concluding = await _concluding(lifecycle)
    for command_type, (valid, wrong_actor) in _samples().items():
        name = UPDATES[command_type]
        if command_type in ALLOWED_IN_ONBOARDING:
            target = concluding if command_type is not c.Cancel else None
        else:
            target = onboarding
        if command_type is c.Resume:
            target = onboarding  # not paused
        if target is not None:
            await _assert_rejected(target, name, valid, "phase")
        await _assert_rejected(onboarding, name, wrong_actor, "actor")
        malformed = {"actor": {"role": "mentee", "id": "bob"}, "unexpected": "x" * 10}
        await _assert_rejected(onboarding, name, malformed, "")
    # Cancel is allowed in every live phase: its phase check is covered by a finished relationship.
    await onboarding.handle.terminate("test over")
    await concluding.handle.terminate("test over")


async def test_a_rejection_names_the_field_and_the_fix(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await pair.do(c.ConfirmAgreement(actor=MENTEE))
    assert _reason(err.value) == "goals: the mentee has not stated goals yet; they come first"
    await pair.do(goals())
    await pair.do(commitment())
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await pair.do(
            c.ConfirmAgreement(
                actor=MENTEE,
                terms=c.AgreementTerms(
                    cadence=MONTHLY,
                    format=MeetingFormat.PHONE,
                    first_meeting_at=(await lifecycle.now()) - timedelta(days=1),
                ),
            )
        )
    assert "terms.first_meeting_at: is in the past" in _reason(err.value)
    await pair.handle.terminate("test over")
