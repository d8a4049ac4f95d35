"""Ready-made people, requests and commands so tests read like the lifecycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from mentorship import commands as c
from mentorship.availability import Window
from mentorship.cadence import Cadence, CadenceKind, MeetingFormat
from mentorship.decider import Outcome
from mentorship.decisions import decide, start
from mentorship.enrolment import StartRelationship
from mentorship.events import Kind, Recorded
from mentorship.fold import replay
from mentorship.participants import Actor, Participant, Role
from mentorship.policy import Policy
from mentorship.revisions import CURRENT, Rules
from mentorship.state import RelationshipState
from mentorship.timers import next_deadline, tick

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ALICE = Participant(id="alice", name="Alice Mentor", email="alice@example.org")
BOB = Participant(id="bob", name="Bob Mentee", email="bob@example.org")
CAROL = Participant(id="carol", name="Carol Mentor", email="carol@example.org")
OPS = Participant(id="olga", name="Olga Operator", email="olga@example.org")

MENTOR = Actor(role=Role.MENTOR, id="alice")
MENTEE = Actor(role=Role.MENTEE, id="bob")
OPERATOR = Actor(role=Role.OPERATOR, id="olga")
BIWEEKLY = Cadence(kind=CadenceKind.BIWEEKLY)
MONTHLY = Cadence(kind=CadenceKind.MONTHLY)


def request(**overrides: Any) -> StartRelationship:
    fields: dict[str, Any] = {
        "program": "eng-2026",
        "kind": Kind.TRADITIONAL,
        "mentor": ALICE,
        "mentee": BOB,
        "operator": OPS,
        "end_date": None,
        "policy": Policy(),
    }
    fields.update(overrides)
    return StartRelationship(**fields)


def goals(actor: Actor = MENTEE, cadence: Cadence = BIWEEKLY) -> c.SubmitGoals:
    return c.SubmitGoals(
        actor=actor,
        objectives=["Lead a design review end to end", "Present to the leadership team"],
        challenges=["Nervous in large meetings"],
        proposed_cadence=cadence,
        proposed_format=MeetingFormat.VIRTUAL,
    )


def commitment(
    actor: Actor = MENTOR, capacity: float = 4, window: Window | None = None
) -> c.SubmitCommitment:
    return c.SubmitCommitment(
        actor=actor,
        capacity_per_month=capacity,
        availability="Tuesday and Thursday afternoons",
        window=window,
        expertise=["system design", "public speaking"],
        communication="email",
        boundaries=["no weekend messages"],
    )


def terms(first: datetime, cadence: Cadence = BIWEEKLY) -> c.AgreementTerms:
    return c.AgreementTerms(cadence=cadence, format=MeetingFormat.VIRTUAL, first_meeting_at=first)


def log(actor: Actor, held_at: datetime, **extra: Any) -> c.LogMeeting:
    return c.LogMeeting(actor=actor, held_at=held_at, duration_minutes=45, **extra)


def mentor_feedback(loop: int) -> c.GiveMentorFeedback:
    return c.GiveMentorFeedback(
        actor=MENTOR,
        loop_number=loop,
        strengths=["You structured the design review agenda clearly and kept time"],
        development_areas=[
            c.DevelopmentArea(
                behaviour="Interrupting colleagues before they finish their point in reviews",
                suggested_step="Wait for a full pause and summarise their point before replying",
                due_in_days=14,
            )
        ],
    )


def mentee_feedback(loop: int) -> c.GiveMenteeFeedback:
    return c.GiveMenteeFeedback(
        actor=MENTEE,
        loop_number=loop,
        what_helps=["Concrete examples from your own design reviews help me a lot"],
        what_to_change=["Send the reading material a day before we meet"],
    )


def review(actor: Actor, number: int, decision: c.ReviewDecision, **extra: Any) -> c.SubmitReview:
    return c.SubmitReview(
        actor=actor,
        review_number=number,
        effectiveness=4,
        progress={"o1": 3, "o2": 2},
        decision=decision,
        **extra,
    )


def reflection(actor: Actor) -> c.SubmitReflection:
    return c.SubmitReflection(
        actor=actor,
        highlights=["The mock leadership presentation"],
        wins=["Led the Q3 design review"],
        goals_met=["o1"],
        next_steps="Keep presenting monthly",
    )


class Journey:
    """A relationship driven by pure rules with explicit timestamps: no Temporal, no clock."""

    def __init__(
        self,
        req: StartRelationship | None = None,
        at: datetime = T0,
        rules: Rules = CURRENT,
        rid: str = "r1",
    ) -> None:
        self.rid = rid
        self.now = at
        self.rules = rules
        self.history: list[Recorded] = []
        self.notifications: list[Any] = []
        self.state = RelationshipState(id=rid)
        self._take(start(req or request(), rid, at, rules))

    def _take(self, outcome: Outcome) -> Outcome:
        self.state = outcome.state
        self.history.extend(outcome.recorded)
        self.notifications.extend(outcome.notifications)
        return outcome

    def do(self, command: c.Command) -> Outcome:
        return self._take(decide(self.state, command, self.now, self.rules))

    def advance(self, to: datetime) -> None:
        """Let the lifecycle's timers fire, in order, up to `to`."""
        while True:
            due = next_deadline(self.state, self.now, self.rules)
            if due is None or due > to:
                break
            self.now = max(self.now, due)
            self._take(tick(self.state, self.now, self.rules))
            if self.state.finished:
                return
        self.now = max(self.now, to)

    def advance_by(self, **delta: float) -> None:
        self.advance(self.now + timedelta(**delta))

    def onboard(self, first: datetime | None = None, cadence: Cadence = BIWEEKLY) -> None:
        self.do(goals(cadence=cadence))
        self.do(commitment())
        agreed = terms(first or self.now + timedelta(days=7), cadence)
        self.do(c.ConfirmAgreement(actor=MENTEE, terms=agreed))
        self.do(c.ConfirmAgreement(actor=MENTOR, terms=agreed))

    def kinds(self) -> list[str]:
        return [r.event.type for r in self.history]

    def notified(self, kind: str) -> list[Any]:
        return [n for n in self.notifications if n.kind.value == kind]

    def rebuilt(self) -> RelationshipState:
        return replay(self.rid, self.history)


def future(days: int) -> date:
    return (T0 + timedelta(days=days)).date()
