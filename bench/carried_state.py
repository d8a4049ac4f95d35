"""7. Carried state: what a weekly pair at maximum input hands to continue-as-new.

The workflow carries the whole `RelationshipState` in its continue-as-new input, one payload
under Temporal's 2 MB limit. This drives the pure domain (no Temporal: the clock-free
`Journey` of tests/factories.py) for a weekly pair that fills every field to the limit the
commands allow: the longest notes, agendas, action items, wins, feedback, progress notes and
review comments, every review evolving the goals. It measures `RelationshipInput(...)
.model_dump_json()` after every decision, against the floor: the same events folded without
pruning (`mentorship.fold.grow`), in the v0.1 shape, which is what the old code carried.

Two kinds of win: recurring (the pair celebrates the same twenty kinds of win, each at full
length) and all new (every win of every meeting a new text). The conclusion summary lists
every distinct win, so the state must carry those: the second case shows that growth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_json

from bench.common import KIB, Bench, Report, Row
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind, MeetingFormat
from mentorship.decider import Outcome
from mentorship.fold import grow
from mentorship.limits import MAX_ITEMS, MAX_RATINGS, MAX_SHORT, MAX_TEXT
from mentorship.state import Phase, RelationshipState
from mentorship.state_upcasters import V2_FIELDS
from mentorship.vocabulary import ItemStatus, ReviewDecision
from tests.factories import MENTEE, MENTOR, T0, Journey, request
from workflows.contract import RelationshipInput

NAME = "carried"
TARGET_KIB = 256
YEAR = timedelta(days=365)
WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
MAX_SPECIFIC = MAX_SHORT * 2  # feedback sentences (`commands.Specific`)
MAX_OBJECTIVES = 10  # SubmitGoals and each Evolution
MAX_AGENDA = 10
MAX_STRENGTHS = 10
MAX_AREAS = 5
_RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)


def text(length: int, *words: object) -> str:
    """Exactly `length` characters, distinct per `words`, specific enough for feedback."""
    head = " ".join(str(w) for w in words)
    filler = " and the pair wrote down what they tried and what happened next"
    body = (head + filler * (length // len(filler) + 1))[:length]
    return body[:-1] + "." if body.endswith(" ") else body


def texts(count: int, length: int, *words: object) -> list[str]:
    return [text(length, *words, i) for i in range(1, count + 1)]


@dataclass
class Sizes:
    """Continue-as-new input bytes: the largest after any decision, by the end of each year."""

    peak: dict[int, int] = field(default_factory=dict)
    at_end: dict[int, int] = field(default_factory=dict)
    wins_at_end: dict[int, int] = field(default_factory=dict)


class MaxPair(Journey):
    """A diligent weekly pair at the limits: every prompt answered, every field full."""

    def __init__(self, years: int, new_wins: bool) -> None:
        self.years, self.new_wins = years, new_wins
        self.sizes = Sizes()
        self.cuts: dict[int, int] = {}  # year -> events recorded by its end
        super().__init__(request())

    def carried(self, state: RelationshipState | None = None, **dump: Any) -> int:
        """Bytes of the input the workflow would continue as new with."""
        carried = RelationshipInput(
            relationship_id=self.state.id, request=request(), state=state or self.state, run=2
        )
        return len(carried.model_dump_json(**dump).encode())

    def _take(self, outcome: Outcome) -> Outcome:
        taken = super()._take(outcome)
        if outcome.recorded:
            year = self._year(self.now)
            size = self.carried()
            self.sizes.peak[year] = max(self.sizes.peak.get(year, 0), size)
        return taken

    def _year(self, moment: datetime) -> int:
        return (moment - T0) // YEAR + 1

    def run(self) -> None:
        self._onboard()
        end = T0 + self.years * YEAR
        while self.state.phase in _RUNNING:
            meeting = self.state.next_meeting
            assert meeting is not None, "a weekly pair always has its next meeting scheduled"
            if meeting.scheduled_at >= end:
                break
            self._close_year_before(meeting.scheduled_at)
            self._meet(meeting.number, meeting.scheduled_at)
            self._answer_prompts()
        self.advance(end)
        self._close_year_before(end + YEAR)

    def _close_year_before(self, moment: datetime) -> None:
        """Note the size at each year's end the first time the clock is about to pass it."""
        for year in range(1, self.years + 1):
            if year not in self.cuts and moment >= T0 + year * YEAR:
                self.cuts[year] = len(self.history)
                self.sizes.at_end[year] = self.carried()
                self.sizes.wins_at_end[year] = len(to_json(self.state.meeting_wins))

    def _onboard(self) -> None:
        self.do(
            c.SubmitGoals(
                actor=MENTEE,
                objectives=texts(MAX_OBJECTIVES, MAX_SHORT, "objective"),
                challenges=texts(MAX_ITEMS, MAX_SHORT, "challenge"),
                proposed_cadence=WEEKLY,
                proposed_format=MeetingFormat.HYBRID,
            )
        )
        self.do(
            c.SubmitCommitment(
                actor=MENTOR,
                capacity_per_month=8,
                availability=text(MAX_SHORT, "availability"),
                expertise=texts(MAX_ITEMS, MAX_SHORT, "expertise"),
                communication=text(MAX_SHORT, "communication"),
                boundaries=texts(MAX_ITEMS, MAX_SHORT, "boundary"),
            )
        )
        agreed = c.AgreementTerms(
            cadence=WEEKLY,
            format=MeetingFormat.HYBRID,
            first_meeting_at=self.now + timedelta(days=7),
            session_minutes=240,
        )
        self.do(c.ConfirmAgreement(actor=MENTEE, terms=agreed))
        self.do(c.ConfirmAgreement(actor=MENTOR, terms=agreed))

    def _meet(self, number: int, at: datetime) -> None:
        self.advance(at - self.state.policy.prep_lead)
        self.do(
            c.SubmitAgenda(
                actor=MENTEE,
                meeting_number=number,
                items=texts(MAX_AGENDA, MAX_SHORT, "agenda for meeting", number),
            )
        )
        self.advance(at + timedelta(hours=1))
        wins = ("win of meeting", number) if self.new_wins else ("recurring win",)
        self.do(
            c.LogMeeting(
                actor=MENTEE,
                meeting_number=number,
                held_at=at,
                format=MeetingFormat.HYBRID,
                duration_minutes=480,
                notes=text(MAX_TEXT, "notes of meeting", number),
                action_items=texts(MAX_ITEMS, MAX_SHORT, "action of meeting", number),
                wins=texts(MAX_ITEMS, MAX_SHORT, *wins),
            )
        )

    def _answer_prompts(self) -> None:
        """Feedback in both directions, every earlier item reported done, reviews answered."""
        for loop in list(self.state.loops):
            if loop.closed_at is None and loop.mentor_strengths is None:
                self.do(self._mentor_feedback(loop.number))
            if loop.closed_at is None and loop.mentee_what_helps is None:
                self.do(self._mentee_feedback(loop.number))
        for item in self.state.open_items():
            if item.created_at < self.now:  # this meeting's items wait for the next one
                note = text(MAX_TEXT, "progress on", item.id)
                self.do(
                    c.ReportProgress(
                        actor=MENTEE, item_id=item.id, status=ItemStatus.DONE, note=note
                    )
                )
        review = self.state.open_review
        if review is not None:
            self._review(review.number)

    def _mentor_feedback(self, loop: int) -> c.GiveMentorFeedback:
        return c.GiveMentorFeedback(
            actor=MENTOR,
            loop_number=loop,
            strengths=texts(MAX_STRENGTHS, MAX_SPECIFIC, "strength in loop", loop),
            development_areas=[
                c.DevelopmentArea(
                    behaviour=text(MAX_SPECIFIC, "behaviour in loop", loop, i),
                    suggested_step=text(MAX_SPECIFIC, "step in loop", loop, i),
                    due_in_days=14,
                )
                for i in range(1, MAX_AREAS + 1)
            ],
        )

    def _mentee_feedback(self, loop: int) -> c.GiveMenteeFeedback:
        return c.GiveMenteeFeedback(
            actor=MENTEE,
            loop_number=loop,
            what_helps=texts(10, MAX_SPECIFIC, "what helps in loop", loop),
            what_to_change=texts(10, MAX_SPECIFIC, "what to change in loop", loop),
        )

    def _review(self, number: int) -> None:
        """Both evolve the goals to the limit: ten new objectives each, the old ones retired."""
        active = list(self.state.objectives)[:MAX_RATINGS]
        halves = {MENTOR: active[: len(active) // 2], MENTEE: active[len(active) // 2 :]}
        for actor, retire in halves.items():
            self.do(
                c.SubmitReview(
                    actor=actor,
                    review_number=number,
                    effectiveness=4,
                    progress=dict.fromkeys(active, 3),
                    decision=ReviewDecision.EVOLVE,
                    evolution=c.Evolution(
                        add_objectives=texts(
                            MAX_OBJECTIVES, MAX_SHORT, "objective of review", number, actor.role
                        ),
                        retire_objectives=retire[:MAX_OBJECTIVES],
                    ),
                    comment=text(MAX_TEXT, "review", number, "by the", actor.role),
                )
            )

    def unpruned(self, events: int) -> RelationshipState:
        """The same events folded as v0.1 folded them: nothing ever left the state."""
        state = RelationshipState(id=self.state.id)
        for rec in self.history[:events]:
            grow(state, rec)
        return state

    def baseline(self, year: int) -> int:
        """What the old code would have carried at the end of `year`."""
        old_shape = {"state": set(V2_FIELDS)}
        return self.carried(self.unpruned(self.cuts[year]), exclude=old_shape)


def journey(years: int, new_wins: bool = False) -> MaxPair:
    pair = MaxPair(years, new_wins)
    pair.run()
    return pair


def _kib(n: int) -> float:
    return n / KIB


def _years(n: int) -> str:
    return f"{n} year" if n == 1 else f"{n} years"


def run(bench: Bench, years: int | None = None) -> Report:
    years = years or (1 if bench.quick else 3)
    shown = sorted({1, years})
    with bench.bar("carried state: a weekly pair at maximum input", total=2) as advance:
        recurring = journey(years)
        advance(1)
        every_new = journey(years, new_wins=True)
        advance(1)
    report = Report(NAME, f"7. Carried state: a weekly pair at maximum input, {_years(years)}")
    for year in shown:
        pruned, floor = recurring.sizes.at_end[year], recurring.baseline(year)
        target = year == years
        report.add(
            Row(
                f"continue-as-new input after {_years(year)}",
                _kib(pruned),
                _kib(floor),
                unit="KiB",
                target=f"< {TARGET_KIB}" if target else "",
                ok=_kib(pruned) < TARGET_KIB if target else None,
            )
        )
    peak = _kib(max(recurring.sizes.peak.values()))
    report.add(
        Row(
            f"largest input at any decision within {_years(years)}",
            peak,
            _kib(recurring.baseline(years)),
            unit="KiB",
            target=f"< {TARGET_KIB}",
            ok=peak < TARGET_KIB,
        ),
        Row(
            f"after {_years(years)}, every win a new text",
            _kib(every_new.sizes.at_end[years]),
            _kib(every_new.baseline(years)),
            unit="KiB",
        ),
        Row(
            "  of which: the distinct wins the summary lists",
            _kib(every_new.sizes.wins_at_end[years]),
            _kib(every_new.sizes.wins_at_end[years]),
            unit="KiB",
        ),
    )
    report.notes += [
        f"{recurring.state.meetings_held} meetings held, {len(recurring.history):,} ledger "
        "events; baseline = the same events folded without pruning, in the v0.1 shape; "
        "Temporal's payload limit is 2 MB",
        "every win a new text: the summary lists every distinct win, so they stay (up to "
        f"{_kib(MAX_ITEMS * MAX_SHORT):.1f} KiB a meeting); bounding them changes the summary",
    ]
    return report
