"""How often a pair meets, and in what format."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CadenceKind(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    EVERY_N_DAYS = "every_n_days"


class MeetingFormat(StrEnum):
    IN_PERSON = "in_person"
    VIRTUAL = "virtual"
    PHONE = "phone"
    HYBRID = "hybrid"


_EVERY_N = re.compile(r"(?:every\s*)?(\d+)\s*(?:d|days?)")
_FIXED_DAYS = {CadenceKind.WEEKLY: 7, CadenceKind.BIWEEKLY: 14}
_MONTHS = {CadenceKind.MONTHLY: 1, CadenceKind.QUARTERLY: 3}


class Cadence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CadenceKind
    every_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _days_only_for_every_n(self) -> Cadence:
        if self.kind is CadenceKind.EVERY_N_DAYS and self.every_days is None:
            raise ValueError("cadence 'every_n_days' needs every_days (1 to 365)")
        if self.kind is not CadenceKind.EVERY_N_DAYS and self.every_days is not None:
            raise ValueError(f"every_days only goes with 'every_n_days', not '{self.kind}'")
        return self

    @classmethod
    def parse(cls, text: str) -> Cadence:
        """Read 'weekly', 'biweekly', 'monthly', 'quarterly' or 'every 10 days' / '10d'."""
        cleaned = text.strip().lower().replace("-", "").replace("_", "")
        named = {k.value.replace("_", ""): k for k in CadenceKind}
        if cleaned in named and named[cleaned] is not CadenceKind.EVERY_N_DAYS:
            return cls(kind=named[cleaned])
        every = _EVERY_N.fullmatch(cleaned)
        if every:
            return cls(kind=CadenceKind.EVERY_N_DAYS, every_days=int(every.group(1)))
        raise ValueError(
            f"unknown cadence '{text}'; use weekly, biweekly, monthly, quarterly or 'every N days'"
        )

    @property
    def nominal(self) -> timedelta:
        """The typical gap between meetings, used for health and capacity."""
        if self.kind in _FIXED_DAYS:
            return timedelta(days=_FIXED_DAYS[self.kind])
        if self.kind in _MONTHS:
            return timedelta(days=round(30.44 * _MONTHS[self.kind]))
        assert self.every_days is not None
        return timedelta(days=self.every_days)

    @property
    def months(self) -> int | None:
        """Calendar months between meetings, for the cadences counted in months."""
        return _MONTHS.get(self.kind)

    @property
    def meetings_per_month(self) -> float:
        return 30.44 / self.nominal.days

    def describe(self) -> str:
        if self.kind is CadenceKind.EVERY_N_DAYS:
            return f"every {self.every_days} days"
        return self.kind.value

    def after(self, moment: datetime, time_scale: float = 1.0) -> datetime:
        """The next meeting after `moment`: calendar months for monthly and quarterly."""
        if self.kind in _MONTHS and time_scale == 1.0:
            return add_months(moment, _MONTHS[self.kind])
        return moment + self.nominal / time_scale


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
