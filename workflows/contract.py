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
