"""Program outcomes from the summary read model: one aggregate query, whatever the ledger's size.

Each summary is the fold of its relationship's events, so these totals count exactly what the
workflow lived through, long after Temporal forgot the runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, Integer, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from ledger.tables import summaries_table
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
