"""Program outcomes, from the ledger: each relationship rebuilt with the same fold the
workflow runs, so a report counts exactly what happened, long after Temporal forgot the runs."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Annotated

import typer
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from cli import connection
from cli.app import app
from cli.output import console, fail, print_json, table
from ledger.records import recorded_events
from ledger.store import Ledger
from mentorship.events import AtRiskRaised, Outcome, Recorded
from mentorship.fold import replay
from mentorship.state import RelationshipState

IN_PROGRESS = "in_progress"
OUTCOMES = [o.value for o in Outcome] + [IN_PROGRESS]


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


def duration_days(state: RelationshipState) -> float | None:
    """Program days from start to conclusion; a demo's compressed seconds count as days."""
    if state.conclusion is None or state.conclusion.concluded_at is None:
        return None
    if state.started_at is None:
        return None
    elapsed = (state.conclusion.concluded_at - state.started_at).total_seconds()
    return elapsed * state.policy.time_scale / 86_400


def program_report(program: str, histories: Iterable[list[Recorded]]) -> ProgramReport:
    outcomes: Counter[str] = Counter({o: 0 for o in OUTCOMES})
    at_risk_now = ever = held = missed = loops = 0
    durations: list[float] = []
    count = 0
    for events in histories:
        if not events:
            continue
        count += 1
        state = replay(events[0].relationship_id, events)
        outcomes[state.outcome.value if state.outcome else IN_PROGRESS] += 1
        at_risk_now += int(state.at_risk and not state.finished)
        ever += int(any(isinstance(r.event, AtRiskRaised) for r in events))
        held, missed = held + state.meetings_held, missed + state.meetings_missed
        loops += state.loops_closed
        days = duration_days(state)
        if days is not None:
            durations.append(days)
    return ProgramReport(
        program=program,
        relationships=count,
        by_outcome=dict(outcomes),
        at_risk_now=at_risk_now,
        ever_at_risk=ever,
        meetings_held=held,
        meetings_missed=missed,
        loops_closed=loops,
        average_duration_days=round(sum(durations) / len(durations), 1) if durations else None,
    )


def ledger_report(ledger: Ledger, program: str | None = None) -> list[ProgramReport]:
    programs = [program] if program else ledger.programs()
    reports = []
    for name in programs:
        by_relationship: dict[str, list[Recorded]] = defaultdict(list)
        for recorded in recorded_events(ledger.program_events(name)):
            by_relationship[recorded.relationship_id].append(recorded)
        if by_relationship:
            reports.append(program_report(name, by_relationship.values()))
    return reports


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
    settings = connection.settings()
    try:
        with Ledger.from_url(settings.resolved_ledger_url) as ledger:
            reports = ledger_report(ledger, program)
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
