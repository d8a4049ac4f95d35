"""Program outcomes from the summary read model: one aggregate query, whatever the ledger's size;
and a program over time (`program_series`), from its events' types and times.

Each summary is the fold of its relationship's events, so these totals count exactly what the
workflow lived through, long after Temporal forgot the runs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, Integer, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from ledger.tables import events_table, summaries_table
from mentorship.vocabulary import Outcome

IN_PROGRESS = "in_progress"
OUTCOMES = [o.value for o in Outcome] + [IN_PROGRESS]
_SM = summaries_table.c


class ProgramReport(BaseModel):
    program: str
    relationships: int
    by_outcome: dict[str, int]
    at_risk_now: int
    ever_at_risk: int
    meetings_held: int
    meetings_missed: int
    loops_closed: int
    average_duration_days: float | None  # program time, for concluded relationships


def _count_true(column: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((column, 1), else_=0), type_=Integer)


_TOTALS = (
    func.count().label("relationships"),
    _count_true(_SM.at_risk).label("at_risk_now"),
    _count_true(_SM.ever_at_risk).label("ever_at_risk"),
    func.sum(_SM.meetings_held).label("meetings_held"),
    func.sum(_SM.meetings_missed).label("meetings_missed"),
    func.sum(_SM.loops_closed).label("loops_closed"),
    func.sum(_SM.duration_days).label("days"),
    func.count(_SM.duration_days).label("concluded"),
)


def program_reports(engine: Engine, program: str | None = None) -> list[ProgramReport]:
    """One report per program, in name order; grouped by outcome in SQL, summed here."""
    query = select(_SM.program, _SM.outcome, *_TOTALS).group_by(_SM.program, _SM.outcome)
    if program is not None:
        query = query.where(_SM.program == program)
    groups: dict[str, list[Mapping[Any, Any]]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            groups[row["program"]].append(row)
    return [_report(name, groups[name]) for name in sorted(groups)]


def _report(program: str, rows: list[Mapping[Any, Any]]) -> ProgramReport:
    def total(name: str) -> int:
        return sum(int(r[name] or 0) for r in rows)

    by_outcome = dict.fromkeys(OUTCOMES, 0)
    for r in rows:
        by_outcome[r["outcome"] or IN_PROGRESS] += int(r["relationships"])
    concluded = total("concluded")
    days = sum(float(r["days"] or 0.0) for r in rows)
    return ProgramReport(
        program=program,
        relationships=total("relationships"),
        by_outcome=by_outcome,
        at_risk_now=total("at_risk_now"),
        ever_at_risk=total("ever_at_risk"),
        meetings_held=total("meetings_held"),
        meetings_missed=total("meetings_missed"),
        loops_closed=total("loops_closed"),
        average_duration_days=round(days / concluded, 1) if concluded else None,
    )


# ------------------------------------------------------------------------ over time

COUNTED = ("MeetingLogged", "MeetingMissed", "LoopClosed")  # how many in each period
RISK = ("AtRiskRaised", "AtRiskCleared", "Concluded")  # who is at risk when a period ends
_EV = events_table.c
WEEKLY_UP_TO = 26  # periods; a longer program is shown by month


class ProgramSeries(BaseModel):
    """A program's life by period (week or month): what happened in each, and how many of its
    relationships were at risk when each ended."""

    program: str
    period: Literal["week", "month"]
    starts: list[date]
    meetings_held: list[int]
    meetings_missed: list[int]
    loops_closed: list[int]
    at_risk: list[int]


def program_series(engine: Engine, program: str, until: datetime) -> ProgramSeries:
    """From the program's first event to `until`. Meetings and loops are counted per day by
    the database; only the few risk events come back one by one. Each query is a range of
    the (program, type, occurred_at) index."""
    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(_EV.occurred_at)).where(
                _EV.program == program, _EV.type == "RelationshipStarted"
            )
        ).scalar()
        day = _utc_day(engine)
        per_day = conn.execute(
            select(_EV.type, day, func.count())
            .where(_EV.program == program, _EV.type.in_(COUNTED))
            .group_by(_EV.type, day)
        ).all()
        risk = conn.execute(
            select(_EV.relationship_id, _EV.type, _EV.occurred_at)
            .where(_EV.program == program, _EV.type.in_(RISK))
            .order_by(_EV.occurred_at, _EV.relationship_id, _EV.seq)
        ).all()
    start = _as_utc(first) if first is not None else until
    period: Literal["week", "month"] = (
        "week" if (until - start).days <= WEEKLY_UP_TO * 7 else "month"
    )
    starts = _periods(start.date(), until.date(), period)
    counts = {kind: [0] * len(starts) for kind in COUNTED}
    for kind, on, n in per_day:
        counts[kind][_period_of(_as_date(on), starts)] += int(n)
    return ProgramSeries(
        program=program,
        period=period,
        starts=starts,
        meetings_held=counts["MeetingLogged"],
        meetings_missed=counts["MeetingMissed"],
        loops_closed=counts["LoopClosed"],
        at_risk=_at_risk_by_period([(r[0], r[1], _as_utc(r[2])) for r in risk], starts),
    )


def _at_risk_by_period(risk: list[tuple[str, str, datetime]], starts: list[date]) -> list[int]:
    """How many were at risk at the end of each period: raised and not yet cleared or ended."""
    at_risk: list[int] = []
    risky: set[str] = set()
    index = 0
    for boundary in [*starts[1:], None]:
        while index < len(risk) and (boundary is None or risk[index][2].date() < boundary):
            relationship_id, kind, _ = risk[index]
            if kind == "AtRiskRaised":
                risky.add(relationship_id)
            else:
                risky.discard(relationship_id)
            index += 1
        at_risk.append(len(risky))
    return at_risk


def _utc_day(engine: Engine) -> ColumnElement[Any]:
    """The UTC calendar day of an event: SQLite stores naive UTC text, PostgreSQL a timestamptz
    whose date() would follow the session's time zone."""
    if engine.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", _EV.occurred_at))
    return func.date(_EV.occurred_at)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _period_of(day: date, starts: list[date]) -> int:
    """The last period starting on or before `day` (days before the first go to the first)."""
    return max(bisect_right(starts, day) - 1, 0)


def _periods(first: date, last: date, period: str) -> list[date]:
    """The start of every week (Monday) or month from `first`'s to `last`'s."""
    if period == "week":
        start = first - timedelta(days=first.weekday())
        return [start + timedelta(weeks=n) for n in range((last - start).days // 7 + 1)]
    starts, month = [], first.replace(day=1)
    while month <= last:
        starts.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return starts
