"""The workflow's public surface: its input, update results and query results."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mentorship import commands as c
from mentorship.enrolment import StartRelationship
from mentorship.events import Outcome, Recorded, Summary
from mentorship.notifications import Notification
from mentorship.participants import Actor
from mentorship.state import RelationshipState

TASK_QUEUE = "mentorflow"
RECORD_EVENTS = "record_events"
SEND_NOTIFICATION = "send_notification"
REPAIR_LEDGER = "repair_ledger"
LEDGER_INTEGRITY_ERROR = "LedgerIntegrityError"
# How long an update waits for the ledger before answering "applied, recording pending".
RECORDING_WAIT_SECONDS = 10

# One update per action; the names are the workflow's public API (CLI, UI, other clients).
UPDATES: dict[type[c.Command], str] = {
    c.SubmitGoals: "submit_goals",
    c.SubmitCommitment: "submit_commitment",
    c.ConfirmAgreement: "confirm_agreement",
    c.SubmitAgenda: "submit_agenda",
    c.LogMeeting: "log_meeting",
    c.RescheduleMeeting: "reschedule_meeting",
    c.ReportProgress: "report_progress",
    c.GiveMentorFeedback: "give_mentor_feedback",
    c.GiveMenteeFeedback: "give_mentee_feedback",
    c.RequestReview: "request_review",
    c.SubmitReview: "submit_review",
    c.Conclude: "conclude",
    c.SubmitReflection: "submit_reflection",
    c.Pause: "pause",
    c.Resume: "resume",
    c.ExtendEndDate: "extend_end_date",
    c.ChangeCadence: "change_cadence",
    c.Cancel: "cancel",
}


# What each update does, for Temporal's UI and `mentorflow schema` (the shapes are the models').
DESCRIPTIONS: dict[str, str] = {
    "submit_goals": "The mentee states learning objectives, challenges, proposed cadence, format.",
    "submit_commitment": "The mentor states capacity, availability (and a weekly window), "
    "expertise, communication and boundaries.",
    "confirm_agreement": "Mentor or mentee confirms the agreement; omitted terms stay as proposed.",
    "submit_agenda": "The mentee's agenda for a scheduled meeting.",
    "log_meeting": "Either party logs a held meeting: notes, action items, wins.",
    "reschedule_meeting": "Either party moves a scheduled meeting, with a reason.",
    "report_progress": "Either party reports on an action item (in_progress, done, blocked).",
    "give_mentor_feedback": "The mentor's feedback: strengths and areas with a concrete next step.",
    "give_mentee_feedback": "The mentee's feedback to the mentor: what helps, what to change.",
    "request_review": "Anyone in the relationship asks for a review now.",
    "submit_review": "One side's review: effectiveness, progress per objective, a decision.",
    "conclude": "Either party or the operator begins a graceful conclusion.",
    "submit_reflection": "A closing reflection: highlights, wins, goals met, next steps.",
    "pause": "The operator holds every timer until resumed.",
    "resume": "The operator resumes; pending deadlines move by the pause.",
    "extend_end_date": "The operator moves the planned end date later.",
    "change_cadence": "The operator changes how often the pair meets.",
    "cancel": "The operator ends the relationship now, recorded as cancelled.",
    "repair_ledger": "The operator says the ledger's cause is fixed; record what was waiting.",
}
STATUS_DESCRIPTION = "The relationship at a glance: state, what it waits for, next deadline."


class RelationshipInput(BaseModel):
    """Start input, and the whole carried state after a continue-as-new.

    Read leniently (see `worker.temporal`): a run started by an older build carries an older
    shape, and a field it lacks takes its default.
    """

    relationship_id: str
    request: StartRelationship
    state: RelationshipState | None = None
    run: int = 1
    # The hash of the last event the ledger holds, so the next run checks the chain too.
    ledger_head: str | None = None


class EventBatch(BaseModel):
    """Events to append, and the notifications they caused, for a first delivery attempt."""

    relationship_id: str
    events: list[Recorded]
    notifications: list[Notification] = Field(default_factory=list)


class BatchResult(BaseModel):
    """What the fast path could not finish: retried durably, or reported to the operator."""

    recorded: int
    retry: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    # The chain head the ledger holds after this batch; histories before v0.2 lack it.
    head: str | None = None


class UpdateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    events: list[str]
    phase: str
    # False: applied (the relationship moved on), but the ledger has not confirmed it yet.
    recorded: bool = True


class StatusView(BaseModel):
    """The relationship at a glance, as a query answers it."""

    state: RelationshipState
    waiting_for: list[str]
    next_deadline: datetime | None
    run: int
    ledger_pending: int
    # Why the ledger refuses this relationship's events; `mentorflow repair` resumes it.
    ledger_blocked: str | None = None


class RepairLedger(BaseModel):
    """An operator says the ledger's cause is fixed: retry what was waiting to be recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Actor
    note: str = Field(default="", max_length=500)


class RelationshipResult(BaseModel):
    relationship_id: str
    outcome: Outcome
    summary: Summary | None
    events: int
    # The ledger's hash after the last event (None for runs recorded before v0.2): a copy of
    # the head outside the ledger, in Temporal's history, for auditors to compare.
    head: str | None = None
