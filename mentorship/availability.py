"""When a pair can meet: the mentor's weekly window, and the weekday and time they agreed.

A `Window` is what the mentor offers ("Tuesdays and Thursdays 14:00-17:00, Europe/Berlin").
A `Rhythm` is what the agreement fixed: the weekday and local time of the first meeting, in
the relationship's time zone. Every later meeting lands on the rhythm, on the hour the pair
chose, whatever the cadence or a daylight-saving change does to the UTC offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mentorship.cadence import Cadence
from mentorship.stored import is_stored


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        return list(Weekday).index(self)

    @classmethod
    def of(cls, day: date) -> Weekday:
        return list(cls)[day.weekday()]

    @classmethod
    def parse(cls, text: str) -> Weekday:
        word = text.strip().lower()
        matches = [d for d in cls if len(word) >= 2 and d.value.startswith(word)]
        if len(matches) != 1:
            raise ValueError(f"unknown weekday '{text}'; use mon, tue, wed, thu, fri, sat or sun")
        return matches[0]


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or UTC where the name is unknown (stored data is never refused)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{name}'; use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return name


_WINDOW = re.compile(
    r"^\s*(?P<days>[a-z,\s-]+?)\s+(?P<start>\d{1,2}(?::\d{2})?)\s*-\s*(?P<end>\d{1,2}(?::\d{2})?)"
    r"(?:\s+(?P<zone>\S+))?\s*$",
    re.IGNORECASE,
)


def _clock(text: str) -> time:
    hour, _, minute = text.partition(":")
    if int(hour) == 24 and int(minute or 0) == 0:
        return time.max
    return time(int(hour), int(minute or 0))


def _days(text: str) -> list[Weekday]:
    days: list[Weekday] = []
    for part in re.split(r"[,\s]+", text.strip()):
        first, dash, last = part.partition("-")
        if not dash:
            days.append(Weekday.parse(first))
            continue
        start, end = Weekday.parse(first).number, Weekday.parse(last).number
        span = range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)]
        days.extend(list(Weekday)[i] for i in span)
    return list(dict.fromkeys(days))


class Window(BaseModel):
    """The hours a mentor offers every week, in one time zone (the mentor's by default)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: time
    end: time
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or is_stored(info):
            return value
        return _known_zone(value)

    @model_validator(mode="after")
    def _start_before_end(self, info: ValidationInfo) -> Window:
        if not is_stored(info) and self.start >= self.end:
            raise ValueError(
                f"the window starts at {self.start:%H:%M} and ends at {self.end:%H:%M}; "
                "give the start first, e.g. 'tue 14:00-17:00'"
            )
        return self

    @classmethod
    def parse(cls, text: str) -> Window:
        """Read 'tue 14:00-17:00', 'tue,thu 14-17' or 'mon-fri 9-12 Europe/Berlin'."""
        found = _WINDOW.match(text)
        if not found:
            raise ValueError(
                f"'{text}' is not a weekly window; write days and hours, "
                "e.g. 'tue,thu 14:00-17:00' or 'mon-fri 9-12 Europe/Berlin'"
            )
        try:
            start, end = _clock(found["start"]), _clock(found["end"])
        except ValueError:
            raise ValueError(f"'{text}' has an hour that is not on a clock; use 0-24") from None
        days = _days(found["days"])
        try:
            return cls(days=days, start=start, end=end, time_zone=found["zone"])
        except ValidationError as err:
            raise ValueError(str(err.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    def describe(self) -> str:
        days = ", ".join(d.value[:3].capitalize() for d in self.days)
        end = "24:00" if self.end == time.max else f"{self.end:%H:%M}"
        return f"{days} {self.start:%H:%M}-{end} {self.time_zone or ''}".strip()

    def first_slot(self, earliest: datetime, minutes: int, zone_name: str) -> datetime | None:
        """The first whole hour in the window, at or after `earliest`, that fits a session."""
        tz = zone(self.time_zone or zone_name)
        local = earliest.astimezone(tz)
        for offset in range(15):
            day = local.date() + timedelta(days=offset)
            if Weekday.of(day) not in self.days:
                continue
            for slot in _hours(day, self.start, self.end, minutes, tz):
                if slot >= earliest:
                    return slot.astimezone(UTC)
        return None


def _hours(day: date, start: time, end: time, minutes: int, tz: ZoneInfo) -> list[datetime]:
    first = datetime.combine(day, start, tzinfo=tz)
    if first.minute or first.second:
        first = first.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    last = datetime.combine(day, end, tzinfo=tz) - timedelta(minutes=minutes)
    slots = []
    while first <= last:
        slots.append(first)
        first += timedelta(hours=1)
    return slots


_ORDINALS = ("first", "second", "third", "fourth", "last")


class Rhythm(BaseModel):
    """The weekday and local time a pair agreed to meet on, in the relationship's time zone.

    Weekly and bi-weekly meetings keep the weekday; monthly and quarterly ones keep its place
    in the month too ("the 4th Tuesday"); a cadence of days that is not whole weeks keeps only
    the time of day."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    weekday: Weekday
    at: time
    time_zone: str = "UTC"
    week_of_month: int = Field(default=1, ge=1, le=5)  # 5: the last such weekday

    @classmethod
    def of(cls, moment: datetime, zone_name: str) -> Rhythm:
        local = moment.astimezone(zone(zone_name))
        return cls(
            weekday=Weekday.of(local.date()),
            at=local.time(),
            time_zone=zone_name,
            week_of_month=(local.day - 1) // 7 + 1,
        )

    def describe(self, cadence: Cadence) -> str:
        at = f"at {self.at:%H:%M} {self.time_zone}"
        day = self.weekday.value.capitalize()
        if cadence.months is not None:
            nth = _ORDINALS[self.week_of_month - 1]
            return f"the {nth} {day} of the month {at}"
        if cadence.nominal.days % 7 == 0:
            return f"{day}s {at}"
        return at

    def next_after(self, cadence: Cadence, anchor: datetime, now: datetime) -> datetime:
        """The cadence's next slot after `anchor`, on the rhythm, skipping slots in the past.

        Steps are taken in local wall time, so 14:00 stays 14:00 across daylight saving."""
        local = anchor.astimezone(zone(self.time_zone))
        at = self._step(cadence, local)
        while at <= now or at <= anchor:
            local = at.astimezone(zone(self.time_zone))
            at = self._step(cadence, local)
        return at

    def _step(self, cadence: Cadence, local: datetime) -> datetime:
        later = cadence.after(local)
        if cadence.months is not None:
            return self._in_month(later.year, later.month)
        if cadence.nominal.days % 7 == 0:
            return self._nearest_weekday(later)
        return self._on(later.date())

    def _on(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=zone(self.time_zone)).astimezone(UTC)

    def _nearest_weekday(self, local: datetime) -> datetime:
        shift = (self.weekday.number - local.weekday() + 7) % 7
        if shift > 3:
            shift -= 7
        return self._on(local.date() + timedelta(days=shift))

    def _in_month(self, year: int, month: int) -> datetime:
        first = date(year, month, 1)
        day = first + timedelta(days=(self.weekday.number - first.weekday() + 7) % 7)
        day += timedelta(weeks=self.week_of_month - 1)
        while day.month != month:  # no 5th such weekday this month: the last one
            day -= timedelta(weeks=1)
        return self._on(day)
