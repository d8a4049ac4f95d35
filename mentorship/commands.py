"""What participants and operators ask the relationship to do: one model per action.

Every command names its actor. Field constraints here catch malformed input; the rules in
`mentorship.decisions` catch what depends on the relationship's state (phase, actor, timing).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from mentorship.availability import Window
from mentorship.cadence import Cadence, MeetingFormat
from mentorship.limits import MAX_ID, MAX_ITEMS, MAX_RATINGS, MAX_REASON, MAX_SHORT, MAX_TEXT
from mentorship.participants import Actor
from mentorship.specificity import vagueness
from mentorship.vocabulary import ItemStatus as ItemStatus
from mentorship.vocabulary import ReviewDecision as ReviewDecision


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank; write a few words")
    return value.strip()


def _specific(value: str) -> str:
    reason = vagueness(value)
    if reason:
        raise ValueError(reason)
    return value.strip()


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("has no time zone; give it with an offset, e.g. 2026-03-01T15:00:00Z")
    return value


def _web_address(value: str) -> str:
    """A video call's link: people click it from an email or a calendar, so http(s) only."""
    link = value.strip()
    scheme, _, rest = link.partition("://")
    if scheme.lower() not in ("https", "http") or not rest or any(c.isspace() for c in link):
        raise ValueError(
            f"'{value}' is not a web address; give the call's link, e.g. https://meet.example.org/ana-ben"
        )
    return link


Short = Annotated[str, Field(max_length=MAX_SHORT), AfterValidator(_not_blank)]
Link = Annotated[str, Field(max_length=MAX_SHORT), AfterValidator(_web_address)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON), AfterValidator(_not_blank)]
Specific = Annotated[str, Field(max_length=MAX_SHORT * 2), AfterValidator(_specific)]
Moment = Annotated[datetime, AfterValidator(_aware)]
ObjectiveId = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Actor


# Onboarding


class SubmitGoals(Command):
    objectives: list[Short] = Field(min_length=1, max_length=10)
    challenges: list[Short] = Field(default_factory=list, max_length=MAX_ITEMS)
    proposed_cadence: Cadence
    proposed_format: MeetingFormat


class SubmitCommitment(Command):
    capacity_per_month: float = Field(gt=0, le=8, description="meetings a month at most")
    availability: Short  # in the mentor's words; `window` is what meetings are placed on
    window: Window | None = None
    expertise: list[Short] = Field(min_length=1, max_length=MAX_ITEMS)
    communication: Short
    boundaries: list[Short] = Field(default_factory=list, max_length=MAX_ITEMS)


class AgreementTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cadence: Cadence
    format: MeetingFormat
    first_meeting_at: Moment
    session_minutes: int = Field(default=60, ge=15, le=240)
    link: Link | None = None  # the video call, for virtual and hybrid meetings
    place: Short | None = None  # where they meet in person


class ConfirmAgreement(Command):
    """Confirm the agreement; `terms` left out means the mentee's proposal as it stands."""

    terms: AgreementTerms | None = None


# Cadence


class SubmitAgenda(Command):
    meeting_number: int = Field(ge=1)
    items: list[Short] = Field(min_length=1, max_length=10)


class LogMeeting(Command):
    meeting_number: int | None = Field(default=None, ge=1)
    held_at: Moment
    format: MeetingFormat | None = None
    duration_minutes: int = Field(ge=5, le=480)
    notes: Text = ""
    action_items: list[Short] = Field(default_factory=list, max_length=MAX_ITEMS)
    wins: list[Short] = Field(default_factory=list, max_length=MAX_ITEMS)


class RescheduleMeeting(Command):
    meeting_number: int = Field(ge=1)
    new_time: Moment
    reason: Reason


class ReportProgress(Command):
    item_id: str = Field(min_length=1, max_length=MAX_ID)
    status: ItemStatus
    note: Text = ""


# Feedback


class DevelopmentArea(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    behaviour: Specific
    suggested_step: Specific
    due_in_days: int | None = Field(default=None, ge=1, le=180)


class GiveMentorFeedback(Command):
    """Mentor to mentee: strengths and areas to develop, each with a concrete next step."""

    loop_number: int = Field(ge=1)
    strengths: list[Specific] = Field(min_length=1, max_length=10)
    development_areas: list[DevelopmentArea] = Field(min_length=1, max_length=5)


class GiveMenteeFeedback(Command):
    """Mentee to mentor: what helps and what to change in how the mentoring works."""

    loop_number: int = Field(ge=1)
    what_helps: list[Specific] = Field(min_length=1, max_length=10)
    what_to_change: list[Specific] = Field(default_factory=list, max_length=10)


# Re-evaluation


class Evolution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cadence: Cadence | None = None
    format: MeetingFormat | None = None
    add_objectives: list[Short] = Field(default_factory=list, max_length=10)
    retire_objectives: list[ObjectiveId] = Field(default_factory=list, max_length=10)

    def is_empty(self) -> bool:
        return not (self.cadence or self.format or self.add_objectives or self.retire_objectives)


class SubmitReview(Command):
    review_number: int = Field(ge=1)
    effectiveness: int = Field(ge=1, le=5)
    progress: dict[ObjectiveId, int] = Field(
        default_factory=dict, max_length=MAX_RATINGS, description="objective id -> 1..5"
    )
    decision: ReviewDecision
    evolution: Evolution | None = None
    comment: Text = ""

    @field_validator("progress")
    @classmethod
    def _ratings_in_range(cls, value: dict[str, int]) -> dict[str, int]:
        for objective, rating in value.items():
            if not 1 <= rating <= 5:
                raise ValueError(f"rating {rating} for {objective} is outside 1..5")
        return value


class RequestReview(Command):
    reason: Reason


class Conclude(Command):
    """Either party, or the operator, ends the relationship; reflections follow."""

    reason: Reason


class SubmitReflection(Command):
    highlights: list[Short] = Field(min_length=1, max_length=10)
    wins: list[Short] = Field(default_factory=list, max_length=MAX_ITEMS)
    goals_met: list[ObjectiveId] = Field(default_factory=list, max_length=10)
    next_steps: Text = ""


# Operator


class Pause(Command):
    reason: Reason


class Resume(Command):
    pass


class ExtendEndDate(Command):
    end_date: date


class ChangeCadence(Command):
    cadence: Cadence
    reason: Reason


class Cancel(Command):
    reason: Reason
