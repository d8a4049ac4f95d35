"""The lifecycle's words: enumerations that commands, events and state share.

Plain data with no rules attached, so a stored event that names one reads the same in every
release; a value is never removed, only added.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    UNDER_REVIEW = "under_review"
    CONCLUDING = "concluding"
    CONCLUDED = "concluded"
    PAUSED = "paused"


class Kind(StrEnum):
    TRADITIONAL = "traditional"
    REVERSE = "reverse"
    SITUATIONAL = "situational"


class Outcome(StrEnum):
    COMPLETED = "completed"
    CONCLUDED_EARLY = "concluded_early"
    NOT_STARTED = "not_started"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    OPEN = "open"  # nobody has reported on it yet
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"


class ReviewDecision(StrEnum):
    CONTINUE = "continue"
    EVOLVE = "evolve"
    CONCLUDE = "conclude"


class ReviewReason(StrEnum):
    PERIODIC = "periodic"
    AT_RISK = "at_risk"
    REQUESTED = "requested"
