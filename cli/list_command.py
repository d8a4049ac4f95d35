"""`mentorflow list`: relationships from the ledger's summary read model.

It answers from the ledger alone, engine or no engine, and imports nothing of Temporal unless
`--blocked` asks it about runs blocked before the ledger kept its refusals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli.app import app
from cli.config import settings
from cli.exit_codes import ExitCode
from cli.ledger_access import open_ledger
from cli.output import console, fail, print_json, table, warn
from ledger import summaries
from ledger.store import Ledger, Refusal
from ledger.summaries import Summary
from mentorship.program_clock import program_moment
from mentorship.vocabulary import Kind, Phase

if TYPE_CHECKING:
    from temporalio.client import WorkflowExecution
    from temporalio.common import SearchAttributeKey
    from temporalio.service import RPCError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@dataclass
class Listed:
    relationship_id: str
    program: str | None
    kind: str | None
    mentor: str | None
    mentee: str | None
    phase: str | None
    at_risk: bool | None
    next_meeting: datetime | None
    status: str
    ledger_blocked: bool = False  # runs from before the attribute existed lack it: not blocked
    at_risk_since: datetime | None = None
    last_event_at: datetime | None = None
    blocked_since: datetime | None = None
    # To show times on the program's clock when it runs fast (time_scale above 1).
    started_at: datetime | None = None
    time_scale: float = 1.0


def _attribute(execution: WorkflowExecution, key: SearchAttributeKey[Any]) -> Any:
    """One search attribute, or None when absent or unreadable (a malformed datetime)."""
    try:
        return execution.typed_search_attributes.get(key)
    except (ValueError, TypeError):
        return None


def listed(execution: WorkflowExecution) -> Listed:
    from workflows import search_attributes as sa

    status = execution.status.name.lower() if execution.status else "unknown"
    return Listed(
        relationship_id=execution.id,
        program=_attribute(execution, sa.PROGRAM),
        kind=_attribute(execution, sa.KIND),
        mentor=_attribute(execution, sa.MENTOR),
        mentee=_attribute(execution, sa.MENTEE),
        phase=_attribute(execution, sa.PHASE),
        at_risk=_attribute(execution, sa.AT_RISK),
        next_meeting=_attribute(execution, sa.NEXT_MEETING),
        status=status,
        ledger_blocked=_attribute(execution, sa.LEDGER_BLOCKED) is True,
    )


def health(item: Listed) -> str:
    base = _plain_health(item)
    if not item.ledger_blocked:
        return base
    return "LEDGER BLOCKED" if base in ("-", "ok") else f"LEDGER BLOCKED, {base}"


def _plain_health(item: Listed) -> str:
    if item.phase == Phase.CONCLUDED.value:
        return "-"
    return "AT RISK" if item.at_risk else "ok"


def _health_cell(item: Listed) -> str | Text:
    text = health(item)
    return Text(text, style="bold red") if item.ledger_blocked else text


def from_summary(summary: Summary) -> Listed:
    return Listed(
        relationship_id=summary.relationship_id,
        program=summary.program,
        kind=summary.kind,
        mentor=summary.mentor,
        mentee=summary.mentee,
        phase=summary.phase,
        at_risk=summary.at_risk,
        next_meeting=summary.next_meeting,
        status="concluded" if summary.concluded else "open",
        ledger_blocked=summary.blocked_since is not None,
        at_risk_since=summary.at_risk_since,
        last_event_at=summary.last_event_at,
        blocked_since=summary.blocked_since,
        started_at=summary.started_at,
        time_scale=summary.time_scale,
    )


def from_refusal(refusal: Refusal) -> Listed:
    """Refused at its very first event: the ledger knows its id and program, nothing else."""
    return Listed(
        relationship_id=refusal.relationship_id,
        program=refusal.program,
        kind=None,
        mentor=None,
        mentee=None,
        phase=None,
        at_risk=None,
        next_meeting=None,
        status="open",
        ledger_blocked=True,
        blocked_since=refusal.since,
    )


# Runs blocked under v0.3 left no refusal in the ledger; only their search attribute says so.
_TEMPORAL_LOOKUP_SECONDS = 5.0


async def blocked_in_temporal(query: str, limit: int) -> list[Listed] | None:
    """Open runs whose search attribute says their ledger is blocked; None if unreachable."""
    import asyncio

    from temporalio.service import RPCError

    from cli import connection
    from client.relationships import find as find_executions
    from client.waits import NoAnswer
    from worker.temporal import connect

    seconds = min(connection.command_timeout(), _TEMPORAL_LOOKUP_SECONDS)
    try:
        engine = await asyncio.wait_for(connect(settings()), seconds)
        running = f"{query} AND ExecutionStatus = 'Running'"
        found = await find_executions(engine, running, limit=limit, timeout=seconds)
    except RPCError as err:
        _unknown_attribute(err)
        return None
    except (RuntimeError, TimeoutError, NoAnswer):
        return None
    return [listed(execution) for execution in found]


def _ledger_listing(ledger: Ledger, wanted: summaries.Filters, limit: int) -> list[Listed]:
    rows = [from_summary(s) for s in summaries.find(ledger.engine, wanted, limit)]
    only_by_program = replace(wanted, program=None, blocked=False) == summaries.Filters()
    if only_by_program:  # nothing else is known of a relationship refused at its first event
        refused = summaries.refused_unsummarised(ledger.engine, wanted.program)
        rows += [from_refusal(Refusal.model_validate(r)) for r in refused]
    return sorted(rows, key=lambda r: r.relationship_id)[:limit]


def _blocked_listing(found: list[Listed], filters: dict[str, Any], limit: int) -> list[Listed]:
    """`--blocked`: the ledger's refusals, and runs blocked before the ledger kept them."""
    from cli import connection
    from client.relationships import list_query

    query = list_query(**filters, ledger_blocked=True)
    stuck = connection.run(lambda: blocked_in_temporal(query, limit))
    if stuck is None:
        warn(
            f"Temporal at {settings().temporal_address} did not answer: listed are "
            "the relationships the ledger refused; runs blocked before v0.4 only Temporal knows"
        )
        return found
    known = {f.relationship_id for f in found}
    merged = found + [s for s in stuck if s.relationship_id not in known]
    return sorted(merged, key=lambda r: r.relationship_id)[:limit]


@app.command("list")
def list_relationships(
    phase: Annotated[Phase | None, typer.Option(help="onboarding, active, ...")] = None,
    program: Annotated[str | None, typer.Option()] = None,
    mentor: Annotated[str | None, typer.Option(help="Mentor id.")] = None,
    mentee: Annotated[str | None, typer.Option(help="Mentee id.")] = None,
    kind: Annotated[Kind | None, typer.Option()] = None,
    at_risk: Annotated[
        bool | None, typer.Option("--at-risk/--healthy", help="Only at-risk, or only healthy.")
    ] = None,
    blocked: Annotated[
        bool,
        typer.Option(
            "--blocked", help="Only those whose ledger refuses their events (`mentorflow repair`)."
        ),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Find relationships by phase, program, person, kind, health or a blocked ledger.

    Reads the ledger's summaries, so it answers in well under a second at 10,000
    relationships, engine or no engine."""
    filters: dict[str, Any] = {
        "phase": phase.value if phase else None,
        "program": program,
        "mentor": mentor,
        "mentee": mentee,
        "kind": kind.value if kind else None,
        "at_risk": at_risk,
    }
    with open_ledger() as ledger:
        wanted = summaries.Filters(**filters, blocked=blocked)
        found = _ledger_listing(ledger, wanted, limit)
    if blocked:
        found = _blocked_listing(found, filters, limit)
    if as_json:
        print_json([{**vars(item), "health": health(item)} for item in found])
        return
    console.print(_listing(found, console.width))


# Below this many columns `list` keeps what tells relationships apart (the id names the
# program and the pair) and leaves program, kind and people to `--json` or a wider terminal.
_WIDE_LIST = 110


def _listing(found: list[Listed], width: int) -> Table:
    title = f"Relationships ({len(found)})"
    if width < _WIDE_LIST:
        rows = [[f.relationship_id, f.phase, _meeting_cell(f), _health_cell(f)] for f in found]
        narrow = ("relationship", "phase", "next meeting", "health")
        return table(title, narrow, rows, whole=["relationship", "next meeting"])
    rows = [
        [
            f.relationship_id,
            f.program,
            f.kind,
            f.mentor,
            f.mentee,
            f.phase,
            _meeting_cell(f),
            _health_cell(f),
        ]
        for f in found
    ]
    columns = ("relationship", "program", "kind", "mentor", "mentee", "phase", "next meeting")
    return table(title, (*columns, "health"), rows, whole=["relationship"])


def _unknown_attribute(err: RPCError) -> None:
    """A server whose workers predate an attribute cannot filter on it: say which, and how."""
    from temporalio.service import RPCStatusCode

    from workflows import search_attributes as sa

    if err.status is not RPCStatusCode.INVALID_ARGUMENT:
        return
    for key in sa.ALL:
        if key.name in err.message:
            fail(
                f"Temporal does not know the search attribute {key.name} yet; start the "
                "current worker (`mentorflow worker` or `mentorflow up`), which registers it",
                ExitCode.REFUSED,
            )


def _meeting_cell(item: Listed) -> str:
    """On the program's clock, as status shows it."""
    if item.next_meeting is None:
        return ""
    moment = program_moment(item.started_at, item.time_scale, item.next_meeting)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
