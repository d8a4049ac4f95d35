"""Program outcomes from the summary read model: one aggregate query, whatever the ledger's size;
and a program over time (`program_series`), from its events' types and times.

Each summary is the fold of its relationship's events, so these totals count exactly what the
workflow lived through, long after Temporal forgot the runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
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

SERIES_EVENTS = ("MeetingLogged", "MeetingMissed", "LoopClosed", "AtRiskRaised", "AtRiskCleared")
_ENDS_RISK = ("AtRiskCleared", "Concluded")
_BOUNDS = ("RelationshipStarted", "Concluded")  # where a program begins; where risk ends
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
    """From the program's first event to `until`, read from the events' types and times."""
    query = (
        select(_EV.relationship_id, _EV.type, _EV.occurred_at)
        .where(_EV.program == program, _EV.type.in_((*SERIES_EVENTS, *_BOUNDS)))
        .order_by(_EV.occurred_at, _EV.relationship_id, _EV.seq)
    )
    with engine.connect() as conn:
        rows = [(r[0], r[1], r[2]) for r in conn.execute(query)]
    first = rows[0][2] if rows else until
    period: Literal["week", "month"] = (
        "week" if (until - first).days <= WEEKLY_UP_TO * 7 else "month"
    )
    starts = _periods(first.date(), until.date(), period)
    counts = {kind: [0] * len(starts) for kind in ("MeetingLogged", "MeetingMissed", "LoopClosed")}
    at_risk: list[int] = []
    risky: set[str] = set()
    index = 0
    for at, boundary in enumerate([*starts[1:], None]):
        while index < len(rows) and (boundary is None or rows[index][2].date() < boundary):
            relationship_id, kind, _ = rows[index]
            if kind in counts:
                counts[kind][at] += 1
            elif kind == "AtRiskRaised":
                risky.add(relationship_id)
            elif kind in _ENDS_RISK:
                risky.discard(relationship_id)
            index += 1
        at_risk.append(len(risky))
    return ProgramSeries(
        program=program,
        period=period,
        starts=starts,
        meetings_held=counts["MeetingLogged"],
        meetings_missed=counts["MeetingMissed"],
        loops_closed=counts["LoopClosed"],
        at_risk=at_risk,
    )


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
