"""What the lifecycle wants people to be told; channels and templates decide how."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from mentorship.participants import Participant, Role


class NotificationKind(StrEnum):
    WELCOME = "welcome"
    ONBOARDING_REMINDER = "onboarding_reminder"
    ONBOARDING_ESCALATION = "onboarding_escalation"
    NOT_STARTED = "not_started"
    AGREEMENT_CONFIRMED = "agreement_confirmed"
    MEETING_PREP = "meeting_prep"
    MEETING_REMINDER = "meeting_reminder"
    MEETING_SCHEDULED = "meeting_scheduled"
    MEETING_RESCHEDULED = "meeting_rescheduled"
    MEETING_CANCELLED = "meeting_cancelled"
    MEETING_MISSED = "meeting_missed"
    WIN_CELEBRATION = "win_celebration"
    FEEDBACK_REQUEST = "feedback_request"
    ACTION_PLAN = "action_plan"
    REPORT_BACK_REMINDER = "report_back_reminder"
    LOOP_CLOSED = "loop_closed"
    CHECK_IN = "check_in"
    AT_RISK = "at_risk"
    REVIEW_REQUEST = "review_request"
    REVIEW_OUTCOME = "review_outcome"
    CADENCE_CHANGED = "cadence_changed"
    PAUSED = "paused"
    RESUMED = "resumed"
    END_DATE_EXTENDED = "end_date_extended"
    REFLECTION_REQUEST = "reflection_request"
    SUMMARY = "summary"
    DELIVERY_FAILED = "delivery_failed"
    LEDGER_BLOCKED = "ledger_blocked"
    OPERATOR_SIGN_IN = "operator_sign_in"  # sent by the portal, not by a relationship
    PERSONAL_LINK = "personal_link"  # sent by the portal: a fresh link for an expired one


class Recipient(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    person: Participant


class MeetingInvite(BaseModel):
    """A calendar event for one meeting; the uid stays the same across reschedules."""

    model_config = ConfigDict(frozen=True)

    uid: str
    sequence: int
    meeting_number: int = 0  # 0: sent before v0.5, which did not say
    start: datetime
    duration: timedelta
    summary: str
    description: str = ""
    location: str = ""
    url: str = ""  # the meeting's video call, where it has one
    cancelled: bool = False


class Notification(BaseModel):
    """One message to one or more people, identified by a business key.

    The key is derived from the relationship and the lifecycle step (never from an attempt
    number), so a retried or replayed activity recognises a message it already delivered.

    `expires_at`: from this moment the message can no longer help (a reminder for a meeting
    that has begun), so a delivery that comes later records it as expired and sends nothing.
    Histories from before it carry none: those notifications never expire.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    kind: NotificationKind
    relationship_id: str
    program: str
    recipients: tuple[Recipient, ...]
    context: dict[str, Any] = {}
    invite: MeetingInvite | None = None
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _expires_at_is_aware(cls, value: datetime | None) -> datetime | None:
        """Compared with a worker's clock: a naive value is taken as UTC, not as local time."""
        if value is not None and value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value
