"""`mentorflow status ID`: one relationship at a glance, from its workflow's status query.

Apart from starting and importing so that asking costs only the Temporal client's imports.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.text import Text
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli import connection
from cli.app import app
from cli.exit_codes import ExitCode
from cli.output import console, fail, print_json, table
from client.relationships import status as query_status
from mentorship.schedule import program_time
from mentorship.state import RelationshipState
from workflows.contract import StatusView

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _when(moment: datetime | date | None, state: RelationshipState | None = None) -> str:
    """A time as a person reads it: in program time when the relationship runs fast."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        if state is not None:
            moment = program_time(state, moment)
        return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return moment.isoformat()


def _clock_text(s: RelationshipState) -> str:
    scale = s.policy.time_scale
    day = 86_400 / scale
    return (
        f"program time: time_scale {scale:g}, one program day is {day:.3g} s of wall time; "
        "every time here is in program time, like the end date"
    )


# --------------------------------------------------------------------------- status


async def fetch_status(client: Client, relationship_id: str) -> StatusView:
    """The relationship's status, or a one-line reason when there is no such relationship."""
    try:
        return await query_status(client, relationship_id, timeout=connection.command_timeout())
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            fail(f"no relationship '{relationship_id}'; find its id with `mentorflow list`")
        raise
    except WorkflowQueryFailedError as err:
        fail(
            f"the worker could not answer about {relationship_id} ({err}); its log says why",
            ExitCode.REFUSED,
        )


def status_summary(view: StatusView) -> dict[str, Any]:
    s = view.state
    meeting = s.next_meeting
    return {
        "relationship_id": s.id,
        "program": s.program,
        "kind": s.kind.value,
        "phase": s.phase.value,
        "mentor": s.mentor.model_dump(mode="json") if s.mentor else None,
        "mentee": s.mentee.model_dump(mode="json") if s.mentee else None,
        "operator": s.operator.model_dump(mode="json") if s.operator else None,
        "agreement": s.agreement.model_dump(mode="json") if s.agreement else None,
        "next_meeting": meeting.model_dump(mode="json") if meeting else None,
        "open_action_items": [i.model_dump(mode="json") for i in s.open_items()],
        "open_loops": [
            {"number": lp.number, "due_at": lp.due_at.isoformat(), "missing": lp.missing}
            for lp in s.loops
            if lp.closed_at is None
        ],
        "at_risk": s.at_risk,
        "risk_reasons": s.risk_reasons,
        "waiting_for": view.waiting_for,
        "next_deadline": view.next_deadline.isoformat() if view.next_deadline else None,
        "outcome": s.outcome.value if s.outcome else None,
        "run": view.run,
        "ledger_blocked": view.ledger_blocked,
        "ledger_pending": view.ledger_pending,
        "state": s.model_dump(mode="json"),
    }


def _agreement_text(s: RelationshipState) -> str:
    if s.agreement is None:
        confirmed = ", ".join(r.value for r in s.confirmed_by) or "nobody"
        return f"not signed yet (confirmed by {confirmed})"
    a = s.agreement
    fmt = a.format.value.replace("_", " ")
    meets = f", {s.rhythm.describe(a.cadence)}" if s.rhythm else ""
    signed = _when(s.agreed_at, s)
    where = "".join(f", {part}" for part in (a.place, a.link) if part)
    return f"{a.cadence.describe()}{meets}, {fmt}{where}, {a.session_minutes} min (signed {signed})"


def _health_text(s: RelationshipState) -> str:
    if s.finished:
        return f"concluded: {s.outcome.value if s.outcome else ''}"
    if s.at_risk:
        return "AT RISK: " + "; ".join(s.risk_reasons)
    return "ok"


def _meeting_text(s: RelationshipState) -> str:
    meeting = s.next_meeting
    if meeting is None:
        return "none scheduled"
    agenda = f" (agenda: {'; '.join(meeting.agenda)})" if meeting.agenda else ""
    return f"#{meeting.number} at {_when(meeting.scheduled_at, s)}{agenda}"


def _status_title(view: StatusView) -> str | Text:
    """The relationship's name; a blocked ledger is the first thing said under it, in red."""
    title = f"Relationship {view.state.id}"
    if not view.ledger_blocked:
        return title
    return Text.assemble(
        title,
        "\n",
        (f"ledger blocked: {view.ledger_blocked}", "bold red"),
        "\n",
        (f"once the cause is fixed: mentorflow repair {view.state.id}", "red"),
    )


def show_status(view: StatusView) -> None:
    s = view.state
    people = [
        f"{role}: {p.name} <{p.email}> ({p.id})"
        for role, p in (("mentor", s.mentor), ("mentee", s.mentee), ("operator", s.operator))
        if p is not None
    ]
    rows: list[tuple[str, str | Text]] = [
        ("relationship", s.id),
        ("program", f"{s.program} ({s.kind.value}{', ' + s.topic if s.topic else ''})"),
        ("phase", s.phase.value),
        ("people", "\n".join(people)),
        ("agreement", _agreement_text(s)),
        ("next meeting", _meeting_text(s)),
        ("meetings", f"{s.meetings_held} held, {s.meetings_missed} missed"),
        ("health", _health_text(s)),
        ("waiting for", "\n".join(view.waiting_for) or "nothing"),
        ("next deadline", _when(view.next_deadline, s)),
    ]
    if s.end_date:
        rows.insert(3, ("end date", s.end_date.isoformat()))
    if s.policy.time_scale != 1.0:
        rows.insert(1, ("clock", _clock_text(s)))
    if view.ledger_pending > 0:
        waiting = f"{view.ledger_pending} event(s) waiting to be recorded"
        rows.insert(0, ("ledger", Text(waiting, style="yellow")))
    overview = table(_status_title(view), ("", ""), rows)
    overview.show_header = False
    console.print(overview)
    items = [
        [i.id, i.description, i.status.value, _when(i.due_at, s), i.source] for i in s.open_items()
    ]
    if items:
        columns = ("item", "description", "status", "due", "from")
        console.print(table("Open action items", columns, items))
    loops = [
        [lp.number, _when(lp.due_at, s), ", ".join(lp.missing) or "report back", lp.overdue]
        for lp in s.loops
        if lp.closed_at is None
    ]
    if loops:
        console.print(
            table("Open feedback loops", ("loop", "due", "waiting for", "overdue"), loops)
        )


@app.command()
def status(
    relationship_id: Annotated[str, typer.Argument(help="The relationship's id.")],
    as_json: JsonOpt = False,
) -> None:
    """One relationship at a glance: phase, agreement, next meeting, items, health, waits."""

    async def work() -> StatusView:
        return await fetch_status(await connection.client(), relationship_id)

    view = connection.run(work)
    if as_json:
        print_json(status_summary(view))
        return
    show_status(view)
