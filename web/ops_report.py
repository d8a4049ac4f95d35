"""The program report: outcomes, risk, meetings and feedback loops, over time and in total,
from the ledger's read side. Charts are drawn in the browser by the vendored Chart.js; the
same numbers are tables on the page, and a CSV, so nothing depends on JavaScript."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from jinja2 import Environment
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger.outcomes import IN_PROGRESS, ProgramReport, ProgramSeries, program_reports
from ledger.outcomes import program_series as series_of
from web import views
from web.ops import admitted

COLUMNS = ("meetings_held", "meetings_missed", "loops_closed", "at_risk")
OUTCOME_ORDER = ("completed", "concluded_early", "not_started", "cancelled", IN_PROGRESS)


def routes(portal: Any, env: Environment) -> list[Route]:
    async def report_page(request: Request) -> Response:
        program, refused = await admitted(portal, env, request)
        if refused is not None:
            return refused
        now = await portal.clock()
        report, series = await run_in_threadpool(_read, portal.ledger.engine, program, now)
        return views.page(
            env,
            "ops_report.html",
            program=program,
            report=report,
            series=series,
            rows=_rows(series),
            outcomes=_outcomes(report),
            chart_data=_chart_data(series, report),
            now=now,
        )

    async def report_csv(request: Request) -> Response:
        program, refused = await admitted(portal, env, request)
        if refused is not None:
            return refused
        _, series = await run_in_threadpool(
            _read, portal.ledger.engine, program, await portal.clock()
        )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [series.period, "meetings_held", "meetings_missed", "loops_closed", "at_risk"]
        )
        writer.writerows(_rows(series))
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{program}-report.csv"'},
        )

    return [
        Route("/ops/report/{program}", report_page),
        Route("/ops/report/{program}/report.csv", report_csv),
    ]


def _read(
    engine: Engine, program: str, now: datetime
) -> tuple[ProgramReport | None, ProgramSeries]:
    reports = program_reports(engine, program)
    return (reports[0] if reports else None), series_of(engine, program, now)


def _rows(series: ProgramSeries) -> list[list[Any]]:
    return [
        [start.isoformat(), held, missed, loops, risk]
        for start, held, missed, loops, risk in zip(
            series.starts,
            series.meetings_held,
            series.meetings_missed,
            series.loops_closed,
            series.at_risk,
            strict=True,
        )
    ]


def _outcomes(report: ProgramReport | None) -> list[tuple[str, int]]:
    if report is None:
        return []
    return [(o.replace("_", " "), report.by_outcome.get(o, 0)) for o in OUTCOME_ORDER]


def _chart_data(series: ProgramSeries, report: ProgramReport | None) -> dict[str, Any]:
    outcomes = _outcomes(report)
    label = "%d %b" if series.period == "week" else "%b %Y"
    return {
        "labels": [start.strftime(label) for start in series.starts],
        "meetings_held": series.meetings_held,
        "meetings_missed": series.meetings_missed,
        "loops_closed": series.loops_closed,
        "at_risk": series.at_risk,
        "outcome_labels": [name for name, _ in outcomes],
        "outcome_counts": [n for _, n in outcomes],
    }
