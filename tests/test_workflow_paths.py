"""Each path of the lifecycle, run by the real workflow on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

from mentorship import commands as c
from mentorship.commands import ReviewDecision
from mentorship.events import Kind, Outcome
from mentorship.participants import Actor, Participant, Role
from mentorship.policy import Policy
from mentorship.state import Phase
from tests.factories import (
    BOB,
    CAROL,
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    commitment,
    goals,
    log,
    reflection,
    request,
    review,
)
from tests.lifecycle import Lifecycle, Pair, hold_next_meeting


async def _onboard(pair: Pair, mentor: Actor = MENTOR, mentee: Actor = MENTEE) -> None:
    await pair.do(goals(actor=mentee))
    await pair.do(commitment(actor=mentor))
    await pair.do(c.ConfirmAgreement(actor=mentee))
    await pair.do(c.ConfirmAgreement(actor=mentor))


async def _reflect_and_finish(
    pair: Pair, mentor: Actor = MENTOR, mentee: Actor = MENTEE
) -> Outcome:
    await pair.do(reflection(mentor))
    await pair.do(reflection(mentee))
    return (await pair.result()).outcome


async def test_onboarding_that_is_never_finished_ends_as_not_started(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    await pair.do(goals())
    await lifecycle.sleep(timedelta(days=22))
    result = await pair.result()
    assert result.outcome is Outcome.NOT_STARTED
    sent = pair.sent()
    assert sent[("onboarding_reminder", "mentor")] == 4
    assert sent[("onboarding_reminder", "mentee")] == 0, (
        "the mentee's goals are in, and no confirmation can be given before the commitment"
    )
    assert sent[("onboarding_escalation", "operator")] == 1
    assert [r.event.type for r in pair.ledger()][-1] == "Concluded"


async def test_two_missed_meetings_raise_a_check_in_and_an_early_review(
    lifecycle: Lifecycle,
) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair)
    first = (await pair.status()).state.meetings[0].scheduled_at
    await lifecycle.sleep_until(first + timedelta(days=14 + 3, hours=1))
    view = await pair.status()
    assert view.state.at_risk
    assert view.state.risk_reasons == ["2 meetings missed in a row"]
    await lifecycle.sleep(timedelta(days=2))
    view = await pair.status()
    assert view.state.phase is Phase.UNDER_REVIEW
    assert view.state.reviews[0].reason.value == "at_risk"
    sent = pair.sent()
    assert sent[("check_in", "mentor")] == sent[("check_in", "mentee")] == 1
    assert sent[("at_risk", "operator")] == 1
    assert sent[("meeting_missed", "mentee")] == 2
    await pair.handle.terminate("test over")


async def test_a_review_that_evolves_thins_the_cadence(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair)
    await pair.do(c.RequestReview(actor=MENTEE, reason="my role changed"))
    await pair.do(review(MENTEE, 1, ReviewDecision.EVOLVE, evolution=c.Evolution(cadence=MONTHLY)))
    await pair.do(review(MENTOR, 1, ReviewDecision.CONTINUE))
    view = await pair.status()
    assert view.run == 2, "a review boundary continues as new"
    assert view.state.cadence == MONTHLY
    assert pair.sent()[("meeting_rescheduled", "mentor")] == 0, "the confirmed first meeting stays"
    await hold_next_meeting(pair, [])
    after = await pair.status()
    first = after.state.latest_past_slot
    upcoming = after.state.next_meeting
    assert first is not None and upcoming is not None
    assert upcoming.scheduled_at - first >= timedelta(days=28), "then monthly"
    await pair.handle.terminate("test over")


async def test_either_party_may_conclude_early(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair)
    await pair.do(c.Conclude(actor=MENTOR, reason="changing roles"))
    assert await _reflect_and_finish(pair) is Outcome.CONCLUDED_EARLY
    assert pair.sent()[("summary", "operator")] == 1
    result = await pair.result()
    last = pair.life.ledger.events(pair.id)[-1]
    assert (result.events, result.head) == (last.seq, last.hash), "the final head, outside"


async def test_a_situational_relationship_ends_at_its_end_date(lifecycle: Lifecycle) -> None:
    now = await lifecycle.now()
    pair = await lifecycle.start(
        request(kind=Kind.SITUATIONAL, end_date=(now + timedelta(days=45)).date(), topic="Launch")
    )
    await _onboard(pair)
    await lifecycle.sleep(timedelta(days=46))
    view = await pair.status()
    assert view.state.phase is Phase.CONCLUDING
    await lifecycle.sleep(timedelta(days=15))
    result = await pair.result()
    assert result.outcome is Outcome.COMPLETED
    assert [r.cause for r in pair.ledger()][-1] == "the reflection deadline passed"


async def test_pause_and_resume_move_the_meeting(lifecycle: Lifecycle) -> None:
    pair = await lifecycle.start(request())
    await _onboard(pair)
    first = (await pair.status()).state.meetings[0].scheduled_at
    await pair.do(c.Pause(actor=OPERATOR, reason="mentor on parental leave"))
    await lifecycle.sleep(timedelta(days=20))
    assert pair.sent()[("meeting_prep", "mentee")] == 0
    await pair.do(c.Resume(actor=OPERATOR))
    resumed = await lifecycle.now()
    moved = (await pair.status()).state.meetings[0].scheduled_at
    # Back on the agreed weekday and time, the next such bi-weekly slot: not 20 days later.
    assert resumed < moved <= resumed + timedelta(days=14)
    assert (moved - first) % timedelta(weeks=1) == timedelta(0)
    await lifecycle.sleep_until(moved - timedelta(days=1, minutes=-1))
    assert pair.sent()[("meeting_prep", "mentee")] == 1
    await pair.handle.terminate("test over")


async def test_extending_the_end_date_keeps_the_relationship_going(lifecycle: Lifecycle) -> None:
    now = await lifecycle.now()
    # A quiet pair, so no early review ends this run while the test looks at it: the
    # time-skipping server can drop a query sent in the instant of continue-as-new.
    patient = Policy(missed_in_a_row_for_risk=10, silence_factor=10)
    pair = await lifecycle.start(
        request(end_date=(now + timedelta(days=30)).date(), policy=patient)
    )
    await _onboard(pair)
    await pair.do(c.ExtendEndDate(actor=OPERATOR, end_date=(now + timedelta(days=90)).date()))
    await lifecycle.sleep(timedelta(days=40))
    view = await pair.status()
    assert view.state.phase is Phase.ACTIVE, "the old end date passed without concluding"
    assert view.state.end_date == (now + timedelta(days=90)).date()
    await pair.do(c.Cancel(actor=OPERATOR, reason="test over"))
    assert (await pair.result()).outcome is Outcome.CANCELLED


async def test_reverse_mentorship_runs_the_same_lifecycle(lifecycle: Lifecycle) -> None:
    junior = Participant(id="dana", name="Dana Junior", email="dana@example.org")
    senior = Participant(id="vic", name="Vic Director", email="vic@example.org")
    pair = await lifecycle.start(request(kind=Kind.REVERSE, mentor=junior, mentee=senior))
    mentor, mentee = Actor(role=Role.MENTOR, id="dana"), Actor(role=Role.MENTEE, id="vic")
    await _onboard(pair, mentor, mentee)
    meeting = (await pair.status()).state.meetings[0]
    await lifecycle.sleep_until(meeting.scheduled_at + timedelta(hours=1))
    await pair.do(log(mentor, meeting.scheduled_at, wins=["Vic shipped his first pull request"]))
    await pair.do(c.Conclude(actor=mentee, reason="learned what I needed"))
    assert await _reflect_and_finish(pair, mentor, mentee) is Outcome.CONCLUDED_EARLY
    assert pair.sent()[("win_celebration", "mentee")] == 1
    assert pair.ledger()[0].event.kind is Kind.REVERSE  # type: ignore[union-attr]


async def test_a_mentee_with_two_mentors_has_two_independent_relationships(
    lifecycle: Lifecycle,
) -> None:
    first = await lifecycle.start(request())
    second = await lifecycle.start(request(mentor=CAROL))
    assert first.id != second.id
    await _onboard(first)
    await second.do(goals())
    assert (await first.status()).state.phase is Phase.ACTIVE
    assert (await second.status()).state.phase is Phase.ONBOARDING
    carol = Actor(role=Role.MENTOR, id="carol")
    await second.do(commitment(actor=carol))
    await first.do(c.Cancel(actor=OPERATOR, reason="test over"))
    assert (await second.status()).state.commitment is not None
    assert (await first.result()).outcome is Outcome.CANCELLED
    assert {r.relationship_id for r in second.ledger()} == {second.id}
    assert BOB.id in second.id
    await second.handle.terminate("test over")
