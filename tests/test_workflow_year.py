"""A full year of a bi-weekly relationship on the time-skipping server, start to completed."""

from __future__ import annotations

from datetime import timedelta

from mentorship import commands as c
from mentorship.events import Outcome
from mentorship.fold import replay
from tests.factories import (
    MENTEE,
    MENTOR,
    commitment,
    goals,
    reflection,
    request,
)
from tests.lifecycle import Lifecycle, answer_open_prompts, hold_next_meeting


async def test_a_biweekly_year_runs_from_onboarding_to_completed(lifecycle: Lifecycle) -> None:
    start = await lifecycle.now()
    end_date = (start + timedelta(days=365)).date()
    pair = await lifecycle.start(request(end_date=end_date))
    await pair.do(goals())
    await pair.do(commitment())
    first = start + timedelta(days=7)
    await pair.do(
        c.ConfirmAgreement(
            actor=MENTEE,
            terms=c.AgreementTerms(
                cadence=goals().proposed_cadence,
                format=goals().proposed_format,
                first_meeting_at=first,
            ),
        )
    )
    result = await pair.do(c.ConfirmAgreement(actor=MENTOR))
    assert result.phase == "active"

    held = 0
    while (await pair.status()).state.phase.value in {"active", "under_review"}:
        view = await pair.status()
        if view.state.next_meeting is None:
            await lifecycle.sleep(timedelta(days=1))
            continue
        await hold_next_meeting(pair, wins=["Gave the demo"] if held % 5 == 0 else [])
        held += 1
        await answer_open_prompts(pair)

    assert (await pair.status()).state.phase.value == "concluding"
    await pair.do(reflection(MENTOR))
    await pair.do(reflection(MENTEE))
    outcome = await pair.result()

    assert outcome.outcome is Outcome.COMPLETED
    assert outcome.summary is not None
    assert outcome.summary.meetings_held == held
    assert 24 <= held <= 26
    assert outcome.summary.meetings_missed == 0
    assert outcome.summary.loops_closed == held // 3

    events = pair.ledger()
    assert [r.seq for r in events] == list(range(1, len(events) + 1))
    kinds = [r.event.type for r in events]
    assert kinds[0] == "RelationshipStarted" and kinds[-1] == "Concluded"
    assert kinds.count("MeetingLogged") == held
    assert kinds.count("ReviewOpened") == 4  # quarterly: days 91, 182, 273, 364
    assert kinds.count("ReviewDecided") == 3  # the fourth is overtaken by the end date
    final = await pair.status()
    assert replay(pair.id, events) == final.state

    sent = pair.sent()
    assert sent[("meeting_prep", "mentee")] == held
    assert sent[("meeting_reminder", "mentor")] == held
    assert sent[("meeting_reminder", "mentee")] == held
    assert sent[("feedback_request", "mentor")] == held // 3
    assert sent[("summary", "operator")] == 1
    assert sent[("win_celebration", "mentee")] == len(range(0, held, 5))
    assert ("meeting_missed", "mentor") not in sent
