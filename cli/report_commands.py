"""Program outcomes, from the ledger's summary read model (`ledger/outcomes.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from cli.app import app
from cli.config import settings as current_settings
from cli.output import console, fail, print_json, table
from ledger.outcomes import IN_PROGRESS, ProgramReport, program_reports
from ledger.store import Ledger

METRICS: tuple[tuple[str, Callable[[ProgramReport], object]], ...] = (
    ("pairs", lambda r: r.relationships),
    ("completed", lambda r: r.by_outcome.get("completed", 0)),
    ("concluded early", lambda r: r.by_outcome.get("concluded_early", 0)),
    ("not started", lambda r: r.by_outcome.get("not_started", 0)),
    ("cancelled", lambda r: r.by_outcome.get("cancelled", 0)),
    ("in progress", lambda r: r.by_outcome.get(IN_PROGRESS, 0)),
    ("at risk now", lambda r: r.at_risk_now),
    ("ever at risk", lambda r: r.ever_at_risk),
    ("meetings held", lambda r: r.meetings_held),
    ("meetings missed", lambda r: r.meetings_missed),
    ("loops closed", lambda r: r.loops_closed),
    ("average days", lambda r: "" if r.average_duration_days is None else r.average_duration_days),
)


def show_reports(reports: list[ProgramReport]) -> None:
    """One column per program: a cohort's numbers read down, programs compare across."""
    rows = [[label, *(metric(r) for r in reports)] for label, metric in METRICS]
    console.print(table("Program outcomes", ("", *(r.program for r in reports)), rows))


@app.command()
def report(
    program: Annotated[str | None, typer.Option(help="Only this program.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Program outcomes from the ledger: outcomes, risk, meetings, loops, duration."""
    settings = current_settings()
    try:
        with Ledger.from_url(settings.resolved_ledger_url) as ledger:
            reports = program_reports(ledger.engine, program)
    except (SQLAlchemyError, OSError) as err:
        url = settings.resolved_ledger_url
        fail(f"cannot read the ledger at {url} ({err}); check MENTORFLOW_LEDGER_URL")
    if as_json:
        print_json(reports)
        return
    if not reports:
        where = f"program '{program}'" if program else "any program"
        console.print(f"no relationships recorded for {where} in {settings.resolved_ledger_url}")
        return
    show_reports(reports)
