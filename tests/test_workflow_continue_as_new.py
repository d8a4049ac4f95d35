"""Long life: continue-as-new carries the whole state and loses no update around the boundary."""

from __future__ import annotations

import asyncio

from mentorship import commands as c
from mentorship.fold import replay
from mentorship.policy import Policy
from tests.factories import MENTEE, MENTOR, commitment, goals, request
from tests.lifecycle import Lifecycle


async def test_updates_around_the_history_limit_are_each_applied_once(
    dev_lifecycle: Lifecycle,
) -> None:
    pair = await dev_lifecycle.start(request(policy=Policy(history_event_limit=50)))
    await pair.do(goals())
    await pair.do(commitment())
    await pair.do(c.ConfirmAgreement(actor=MENTEE))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))

    agendas = [
        c.SubmitAgenda(actor=MENTEE, meeting_number=1, items=[f"Topic number {i}"])
        for i in range(60)
    ]
    results = []
    for wave in range(0, len(agendas), 10):
        results += await asyncio.gather(*(pair.do(a) for a in agendas[wave : wave + 10]))

    seqs = [r.seq for r in results]
    assert len(set(seqs)) == len(agendas), "every update got its own event"
    view = await pair.status()
    assert view.run >= 3, "the lowered limit made it continue as new more than once"
    ledger = pair.ledger()
    assert [r.seq for r in ledger] == list(range(1, view.state.seq + 1))
    submitted = [r.event.items[0] for r in ledger if r.event.type == "AgendaSubmitted"]  # type: ignore[union-attr]
    assert sorted(submitted) == sorted(a.items[0] for a in agendas)
    assert replay(pair.id, ledger) == view.state
    await pair.handle.terminate("test over")
