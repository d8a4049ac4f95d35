"""Every duration and threshold of the lifecycle, with program defaults.

A program sets its own policy; a relationship may override it. `time_scale` compresses
program time for demos: every span the lifecycle waits is divided by it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from mentorship.stored import is_stored


def _days(n: float) -> timedelta:
    return timedelta(days=n)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    onboarding_deadline: timedelta = Field(default=_days(14), gt=timedelta(0))
    onboarding_reminder_every: timedelta = Field(default=_days(3), gt=timedelta(0))
    onboarding_grace: timedelta = Field(default=_days(7), ge=timedelta(0))
    prep_lead: timedelta = Field(default=_days(2), ge=timedelta(0))
    reminder_lead: timedelta = Field(default=_days(1), ge=timedelta(0))
    meeting_grace: timedelta = Field(default=_days(3), gt=timedelta(0))
    feedback_every_meetings: int = Field(default=3, ge=1, le=52)
    feedback_due: timedelta = Field(default=_days(7), gt=timedelta(0))
    action_item_due: timedelta = Field(default=_days(21), gt=timedelta(0))
    report_back_lead: timedelta = Field(default=_days(3), ge=timedelta(0))
    missed_in_a_row_for_risk: int = Field(default=2, ge=1, le=10)
    silence_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    review_every: timedelta = Field(default=_days(91), gt=timedelta(0))
    early_review_lead: timedelta = Field(default=_days(2), ge=timedelta(0))
    review_due: timedelta = Field(default=_days(14), gt=timedelta(0))
    reflection_due: timedelta = Field(default=_days(14), gt=timedelta(0))
    time_scale: float = Field(default=1.0, ge=1.0, le=1_000_000.0)
    history_event_limit: int = Field(
        default=10_000, ge=50, description="continue-as-new once a run's history reaches this"
    )

    @model_validator(mode="after")
    def _leads_fit(self, info: ValidationInfo) -> Policy:
        if not is_stored(info) and self.reminder_lead > self.prep_lead:
            raise ValueError(
                "reminder_lead is longer than prep_lead; the prep prompt must come first"
            )
        return self

    def span(self, program_time: timedelta) -> timedelta:
        """How long the lifecycle really waits for a span of program time."""
        if self.time_scale == 1.0:
            return program_time
        return program_time / self.time_scale
