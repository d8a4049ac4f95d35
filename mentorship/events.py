"""The domain's events: what happened to a relationship, in the program's words.

Each event is folded into state by `mentorship.fold.apply` and appended to the outcome
ledger. Its key (relationship id + sequence number) is deterministic and survives
continue-as-new, so a retried or replayed append stores it once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mentorship.availability import Rhythm, Window
from mentorship.cadence import Cadence, MeetingFormat
from mentorship.participants import Actor, Participant, Role
from mentorship.policy import Policy
from mentorship.vocabulary import ItemStatus as ItemStatus
from mentorship.vocabulary import Kind as Kind
from mentorship.vocabulary import Outcome as Outcome
from mentorship.vocabulary import ReviewDecision as ReviewDecision
from mentorship.vocabulary import ReviewReason as ReviewReason

S = TypeVar("S", bound="Shape")


class Shape(BaseModel):
    """A stored shape: plain data, read leniently. Unknown fields (from a newer release) are
    ignored and missing ones take their defaults; no business rule runs when it is loaded,
    because a rule tightened later must never make recorded history unreadable."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _Event(Shape):
    # Bumped when a field changes meaning or shape; ledger/records.py upcasts older rows.
    version: ClassVar[int] = 1


def added() -> Any:
    """A field a later release added to an event: left out of the record while unset, so an
    event decided the old way serialises, and hashes, exactly as it was recorded."""
    return Field(default=None, exclude_if=lambda value: value is None)


class Terms(Shape):
    """The agreement as recorded (the command's `AgreementTerms`, without its checks)."""

    cadence: Cadence
    format: MeetingFormat
    first_meeting_at: datetime
    session_minutes: int = 60
    link: str | None = added()  # v0.5; a video call's address, on every invite
    place: str | None = added()  # v0.5; where they meet in person


class AreaToDevelop(Shape):
    """A development area as recorded (the command's `DevelopmentArea`, without its checks)."""

    behaviour: str
    suggested_step: str
    due_in_days: int | None = None


class Change(Shape):
    """An evolution as recorded (the command's `Evolution`, without its checks)."""

    cadence: Cadence | None = None
    format: MeetingFormat | None = None
    add_objectives: list[str] = Field(default_factory=list)
    retire_objectives: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.cadence or self.format or self.add_objectives or self.retire_objectives)


def stored(shape: type[S], value: BaseModel) -> S:
    """A command's value as the stored shape of the same fields."""
    return shape.model_validate(value.model_dump())


class RelationshipStarted(_Event):
    type: Literal["RelationshipStarted"] = "RelationshipStarted"
    program: str
    kind: Kind
    mentor: Participant
    mentee: Participant
    operator: Participant
    end_date: date | None
    policy: Policy
    onboarding_deadline: datetime
    topic: str = ""


class GoalsSubmitted(_Event):
    type: Literal["GoalsSubmitted"] = "GoalsSubmitted"
    objectives: list[str]
    challenges: list[str]
    proposed_cadence: Cadence
    proposed_format: MeetingFormat


class CommitmentSubmitted(_Event):
    type: Literal["CommitmentSubmitted"] = "CommitmentSubmitted"
    capacity_per_month: float
    availability: str
    expertise: list[str]
    communication: str
    boundaries: list[str]
    window: Window | None = added()  # v0.3; its time zone filled in from the mentor's


class AgreementConfirmed(_Event):
    """One party confirmed these terms; new terms void the other party's confirmation."""

    type: Literal["AgreementConfirmed"] = "AgreementConfirmed"
    by: Role
    terms: Terms


class AgreementSigned(_Event):
    type: Literal["AgreementSigned"] = "AgreementSigned"
    terms: Terms
    next_review_at: datetime
    rhythm: Rhythm | None = added()  # v0.3; meetings keep the first one's weekday and time


class OnboardingEscalated(_Event):
    type: Literal["OnboardingEscalated"] = "OnboardingEscalated"
    missing: list[str]
    grace_until: datetime


class ReminderSent(_Event):
    """A prompt went out (prep, meeting reminder, report-back, onboarding...)."""

    type: Literal["ReminderSent"] = "ReminderSent"
    purpose: str
    ref: str
    to: list[Role]


class MeetingScheduled(_Event):
    type: Literal["MeetingScheduled"] = "MeetingScheduled"
    number: int
    at: datetime


class AgendaSubmitted(_Event):
    type: Literal["AgendaSubmitted"] = "AgendaSubmitted"
    number: int
    items: list[str]


class MeetingRescheduled(_Event):
    type: Literal["MeetingRescheduled"] = "MeetingRescheduled"
    number: int
    at: datetime
    previous_at: datetime
    reason: str


class MeetingWithdrawn(_Event):
    """A scheduled meeting taken off both calendars (a pause); it keeps its number."""

    type: Literal["MeetingWithdrawn"] = "MeetingWithdrawn"
    number: int
    reason: str


class MeetingLogged(_Event):
    type: Literal["MeetingLogged"] = "MeetingLogged"
    number: int
    held_at: datetime
    format: MeetingFormat
    duration_minutes: int
    notes: str
    action_items: list[str]
    wins: list[str]


class MeetingMissed(_Event):
    type: Literal["MeetingMissed"] = "MeetingMissed"
    number: int
    scheduled_at: datetime


class ProgressReported(_Event):
    type: Literal["ProgressReported"] = "ProgressReported"
    item_id: str
    status: ItemStatus
    note: str


class FeedbackRequested(_Event):
    type: Literal["FeedbackRequested"] = "FeedbackRequested"
    loop: int
    due_at: datetime


class ActionPlanItem(Shape):
    id: str
    description: str
    due_at: datetime


class MentorFeedbackGiven(_Event):
    type: Literal["MentorFeedbackGiven"] = "MentorFeedbackGiven"
    loop: int
    strengths: list[str]
    development_areas: list[AreaToDevelop]
    plan: list[ActionPlanItem]


class MenteeFeedbackGiven(_Event):
    type: Literal["MenteeFeedbackGiven"] = "MenteeFeedbackGiven"
    loop: int
    what_helps: list[str]
    what_to_change: list[str]


class LoopOverdue(_Event):
    type: Literal["LoopOverdue"] = "LoopOverdue"
    loop: int
    missing: list[str]


class LoopClosed(_Event):
    type: Literal["LoopClosed"] = "LoopClosed"
    loop: int


class AtRiskRaised(_Event):
    """Warning signs appeared; the next review is brought forward to `review_at`."""

    type: Literal["AtRiskRaised"] = "AtRiskRaised"
    reasons: list[str]
    review_at: datetime | None = None


class AtRiskCleared(_Event):
    type: Literal["AtRiskCleared"] = "AtRiskCleared"


class ReviewOpened(_Event):
    type: Literal["ReviewOpened"] = "ReviewOpened"
    number: int
    reason: ReviewReason
    detail: str
    due_at: datetime


class ReviewSubmitted(_Event):
    type: Literal["ReviewSubmitted"] = "ReviewSubmitted"
    number: int
    by: Role
    effectiveness: int
    progress: dict[str, int]
    decision: ReviewDecision
    evolution: Change | None
    comment: str


class ReviewDecided(_Event):
    type: Literal["ReviewDecided"] = "ReviewDecided"
    number: int
    decision: ReviewDecision
    evolution: Change | None
    next_review_at: datetime
    unanswered: list[Role] = Field(default_factory=list)


class CadenceChanged(_Event):
    type: Literal["CadenceChanged"] = "CadenceChanged"
    cadence: Cadence
    reason: str


class Paused(_Event):
    type: Literal["Paused"] = "Paused"
    reason: str


class Resumed(_Event):
    """Every pending deadline moves on by the time spent paused."""

    type: Literal["Resumed"] = "Resumed"
    paused_for_seconds: float


class EndDateExtended(_Event):
    type: Literal["EndDateExtended"] = "EndDateExtended"
    end_date: date
    previous: date | None


class ConclusionStarted(_Event):
    type: Literal["ConclusionStarted"] = "ConclusionStarted"
    reason: str
    outcome: Outcome
    due_at: datetime


class ReflectionSubmitted(_Event):
    type: Literal["ReflectionSubmitted"] = "ReflectionSubmitted"
    by: Role
    highlights: list[str]
    wins: list[str]
    goals_met: list[str]
    next_steps: str


class OpenWorkClosed(_Event):
    """At the end, what was still open closes, saying why: nothing waits on a closed pair."""

    type: Literal["OpenWorkClosed"] = "OpenWorkClosed"
    review: int | None = None
    loops: list[int] = Field(default_factory=list)
    items: list[str] = Field(default_factory=list)
    reason: str = ""


class Summary(Shape):
    duration_days: int
    meetings_held: int
    meetings_missed: int
    loops_closed: int
    objectives_met: list[str]
    wins: list[str]


class Concluded(_Event):
    type: Literal["Concluded"] = "Concluded"
    outcome: Outcome
    reason: str
    summary: Summary


Event = Annotated[
    RelationshipStarted
    | GoalsSubmitted
    | CommitmentSubmitted
    | AgreementConfirmed
    | AgreementSigned
    | OnboardingEscalated
    | ReminderSent
    | MeetingScheduled
    | AgendaSubmitted
    | MeetingRescheduled
    | MeetingWithdrawn
    | MeetingLogged
    | MeetingMissed
    | ProgressReported
    | FeedbackRequested
    | MentorFeedbackGiven
    | MenteeFeedbackGiven
    | LoopOverdue
    | LoopClosed
    | AtRiskRaised
    | AtRiskCleared
    | ReviewOpened
    | ReviewSubmitted
    | ReviewDecided
    | CadenceChanged
    | Paused
    | Resumed
    | EndDateExtended
    | ConclusionStarted
    | ReflectionSubmitted
    | OpenWorkClosed
    | Concluded,
    Field(discriminator="type"),
]


class Recorded(Shape):
    """An event as it happened to one relationship: who, when, why, and where in sequence."""

    relationship_id: str
    program: str
    seq: int
    occurred_at: datetime
    actor: Actor
    cause: str = ""
    event: Event

    @property
    def key(self) -> str:
        return event_key(self.relationship_id, self.seq)


def event_key(relationship_id: str, seq: int) -> str:
    return f"{relationship_id}:{seq:06d}"
