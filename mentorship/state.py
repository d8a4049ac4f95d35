"""A relationship's state: the fold of its events. Live (in the workflow) and audited alike."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mentorship.availability import Rhythm, Window
from mentorship.cadence import Cadence, MeetingFormat
from mentorship.events import AreaToDevelop, Change, Summary, Terms
from mentorship.participants import Participant, Role
from mentorship.policy import Policy
from mentorship.state_upcasters import CURRENT, upcast
from mentorship.vocabulary import ItemStatus, Kind, Outcome, ReviewDecision, ReviewReason
from mentorship.vocabulary import Phase as Phase  # re-exported: the domain names it from here


class _State(BaseModel):
    """Carried through continue-as-new, so read leniently like every stored shape: a run
    started by an older build hands over fields this build dropped, or lacks new ones."""

    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class Goals(_State):
    objectives: dict[str, str]  # id -> text; ids survive retirement so ratings stay readable
    challenges: list[str]
    proposed_cadence: Cadence
    proposed_format: MeetingFormat


class Commitment(_State):
    capacity_per_month: float
    availability: str
    expertise: list[str]
    communication: str
    boundaries: list[str]
    window: Window | None = None


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    MISSED = "missed"


class Meeting(_State):
    number: int
    scheduled_at: datetime
    status: MeetingStatus = MeetingStatus.SCHEDULED
    reschedules: int = 0
    # The invite's SEQUENCE: one up for every change calendars see (a move, a withdrawal).
    sequence: int = 0
    withdrawn: bool = False  # off both calendars while the pair is paused
    agenda: list[str] = Field(default_factory=list)
    held_at: datetime | None = None
    format: MeetingFormat | None = None
    duration_minutes: int | None = None
    notes: str = ""
    wins: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _sequence_from_reschedules(cls, data: Any) -> Any:
        """Carried before v0.5: only moves changed the invite, so its sequence was their count."""
        if isinstance(data, dict) and "sequence" not in data:
            return {**data, "sequence": data.get("reschedules", 0)}
        return data


class ActionItem(_State):
    id: str
    source: str  # "meeting 3" or "feedback loop 2"
    description: str
    created_at: datetime
    due_at: datetime | None = None
    status: ItemStatus = ItemStatus.OPEN
    note: str = ""
    done_at: datetime | None = None


class FeedbackLoop(_State):
    number: int
    requested_at: datetime
    due_at: datetime
    mentor_strengths: list[str] | None = None
    development_areas: list[AreaToDevelop] = Field(default_factory=list)
    mentee_what_helps: list[str] | None = None
    mentee_what_to_change: list[str] = Field(default_factory=list)
    plan_item_ids: list[str] = Field(default_factory=list)
    overdue: bool = False
    closed_at: datetime | None = None
    withdrawn: bool = False  # closed unfinished, when the relationship ended

    @property
    def missing(self) -> list[str]:
        missing = []
        if self.mentor_strengths is None:
            missing.append("mentor feedback")
        if self.mentee_what_helps is None:
            missing.append("mentee feedback")
        return missing


class ReviewEntry(_State):
    effectiveness: int
    progress: dict[str, int]
    decision: ReviewDecision
    evolution: Change | None = None
    comment: str


class Review(_State):
    number: int
    reason: ReviewReason
    detail: str
    opened_at: datetime
    due_at: datetime
    submissions: dict[Role, ReviewEntry] = Field(default_factory=dict)
    decision: ReviewDecision | None = None
    decided_at: datetime | None = None
    closed_reason: str | None = None  # closed undecided, when the relationship ended


class Reflection(_State):
    highlights: list[str]
    wins: list[str]
    goals_met: list[str]
    next_steps: str


class Conclusion(_State):
    reason: str
    outcome: Outcome
    started_at: datetime
    due_at: datetime
    reflections: dict[Role, Reflection] = Field(default_factory=dict)
    summary: Summary | None = None
    concluded_at: datetime | None = None


class RelationshipState(BaseModel):
    """Everything the lifecycle knows about one relationship. Carried through continue-as-new.

    Bounded: what is closed (held or missed meetings past a short window, done items, closed
    loops but the last, decided reviews but the last, their reminders) leaves the state in
    the fold (`mentorship.fold.compact`); the ledger keeps it. What the rules count from it
    is counted as it happens, so pruning never changes a number. A payload without
    `schema_version` is the v0.1 shape (version 1) and is upcast on load.
    """

    model_config = ConfigDict(extra="ignore")

    schema_version: int = CURRENT
    id: str
    program: str = ""
    kind: Kind = Kind.TRADITIONAL
    topic: str = ""
    mentor: Participant | None = None
    mentee: Participant | None = None
    operator: Participant | None = None
    policy: Policy = Field(default_factory=Policy)
    seq: int = 0
    phase: Phase = Phase.ONBOARDING
    phase_before_pause: Phase | None = None
    paused_at: datetime | None = None
    # Time spent paused during onboarding: onboarding reminders keep their rhythm after it.
    onboarding_paused_for: timedelta = timedelta(0)
    started_at: datetime | None = None
    end_date: date | None = None

    onboarding_deadline: datetime | None = None
    escalated_at: datetime | None = None
    grace_until: datetime | None = None
    goals: Goals | None = None
    commitment: Commitment | None = None
    pending_terms: Terms | None = None
    confirmed_by: list[Role] = Field(default_factory=list)
    agreement: Terms | None = None
    agreed_at: datetime | None = None
    rhythm: Rhythm | None = None  # the agreed weekday and time; None before v0.3's rule
    retired_objectives: list[str] = Field(default_factory=list)

    meetings: list[Meeting] = Field(default_factory=list)  # scheduled, and the last few past
    meetings_held: int = 0
    meetings_missed: int = 0
    # Where the cadence continues from: the latest slot of a meeting held or missed.
    latest_past_slot: datetime | None = None
    # Every distinct win logged at a meeting, in order: the conclusion summary lists them all.
    meeting_wins: list[str] = Field(default_factory=list)
    missed_in_a_row: int = 0
    last_activity_at: datetime | None = None
    action_items: dict[str, ActionItem] = Field(default_factory=dict)
    loops: list[FeedbackLoop] = Field(default_factory=list)  # open, and the last closed
    loops_requested: int = 0
    loops_closed: int = 0
    held_since_loop: int = 0
    reminders_sent: list[str] = Field(default_factory=list)

    at_risk: bool = False
    risk_reasons: list[str] = Field(default_factory=list)

    reviews: list[Review] = Field(default_factory=list)  # the last one, open or decided
    reviews_opened: int = 0
    next_review_at: datetime | None = None
    review_due_before_risk: datetime | None = None

    conclusion: Conclusion | None = None
    outcome: Outcome | None = None

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        """Older carried shapes load as the current one (`mentorship.state_upcasters`)."""
        return upcast(data) if isinstance(data, dict) else data

    # Read helpers: derived from what the fold keeps, so it stays the single truth.

    def party(self, role: Role) -> Participant:
        person = {Role.MENTOR: self.mentor, Role.MENTEE: self.mentee}.get(role, self.operator)
        if person is None:
            raise LookupError(f"relationship {self.id} has no {role.value}")
        return person

    @property
    def next_meeting(self) -> Meeting | None:
        scheduled = [m for m in self.meetings if m.status is MeetingStatus.SCHEDULED]
        return scheduled[0] if scheduled else None

    def meeting(self, number: int) -> Meeting | None:
        for m in self.meetings:
            if m.number == number:
                return m
        return None

    @property
    def open_review(self) -> Review | None:
        last = self.reviews[-1] if self.reviews else None
        if last is not None and last.decision is None and last.closed_reason is None:
            return last
        return None

    @property
    def open_loop(self) -> FeedbackLoop | None:
        open_loops = [lp for lp in self.loops if lp.closed_at is None]
        return open_loops[0] if open_loops else None

    @property
    def cadence(self) -> Cadence | None:
        return self.agreement.cadence if self.agreement else None

    @property
    def objectives(self) -> dict[str, str]:
        if not self.goals:
            return {}
        return {k: v for k, v in self.goals.objectives.items() if k not in self.retired_objectives}

    def open_items(self, source: str | None = None) -> list[ActionItem]:
        return [
            i
            for i in self.action_items.values()
            if i.status is not ItemStatus.DONE and (source is None or i.source == source)
        ]

    @property
    def next_meeting_number(self) -> int:
        """Meetings are numbered 1, 2, ... and each is held or missed before the next is
        scheduled, so the next one is numbered one past those that took place or were missed."""
        return self.meetings_held + self.meetings_missed + 1

    @property
    def finished(self) -> bool:
        return self.phase is Phase.CONCLUDED
