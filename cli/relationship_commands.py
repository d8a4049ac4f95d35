"""Starting relationships: start and import (`list` and `status` have their own modules).

A roster is checked row by row before anything starts, so an operator fixes a spreadsheet
once instead of discovering its problems one started relationship at a time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import Progress
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from cli import connection
from cli.app import app
from cli.exit_codes import ExitCode
from cli.ledger_access import ledger_to_check, roster_ledger
from cli.output import console, errors, fail, print_json, progress_bar, table
from client import roster_import
from client.access import NotOnRoster, admit_starter
from client.relationships import AlreadyInLedger, start_relationship
from client.roster_import import (
    Outcome,
    RosterRow,
    RosterUnreadable,
    check_rows,
    first_line,
    given,
    merge,
    nest_people,
    parse_request,
    read_roster_text,
    refuse_strangers,
)
from ledger.store import Ledger
from mentorship.enrolment import StartRelationship
from mentorship.events import Kind

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="A YAML or JSON file with the body; flags override it."),
]
OperatorId = Annotated[
    str | None, typer.Option(envvar="MENTORFLOW_OPERATOR_ID", help="The program operator's id.")
]
OperatorName = Annotated[str | None, typer.Option(envvar="MENTORFLOW_OPERATOR_NAME")]
OperatorEmail = Annotated[str | None, typer.Option(envvar="MENTORFLOW_OPERATOR_EMAIL")]


# --------------------------------------------------------------------------- documents


def read_document(path: Path) -> Any:
    """A YAML or JSON file as Python data; JSON files are read strictly as JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        fail(f"{path}: cannot read it ({err.strerror}); check the path")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as err:
        fail(f"{path}: line {err.lineno}: not valid JSON ({err.msg}); fix the syntax")
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        fail(f"{path}: {where}not valid YAML ({getattr(err, 'problem', err)}); fix the syntax")


def read_mapping(path: Path) -> dict[str, Any]:
    data = read_document(path)
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping of field names to values, not {type(data).__name__}")
    return data


def now_utc() -> datetime:
    return datetime.now(UTC)


def started_row(request: StartRelationship, result: str) -> list[Any]:
    return [
        request.workflow_id,
        request.program,
        request.kind.value,
        request.mentor.id,
        request.mentee.id,
        result,
    ]


STARTED_COLUMNS = ("relationship", "program", "kind", "mentor", "mentee", "result")


# --------------------------------------------------------------------------- start


@app.command()
def start(
    file: FileOpt = None,
    program: Annotated[str | None, typer.Option(help="Program id, e.g. eng-2026.")] = None,
    kind: Annotated[Kind | None, typer.Option(help="traditional, reverse or situational.")] = None,
    mentor_id: Annotated[str | None, typer.Option()] = None,
    mentor_name: Annotated[str | None, typer.Option()] = None,
    mentor_email: Annotated[str | None, typer.Option()] = None,
    mentee_id: Annotated[str | None, typer.Option()] = None,
    mentee_name: Annotated[str | None, typer.Option()] = None,
    mentee_email: Annotated[str | None, typer.Option()] = None,
    operator_id: OperatorId = None,
    operator_name: OperatorName = None,
    operator_email: OperatorEmail = None,
    end_date: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD; required for situational.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="What the pairing is about.")] = None,
    relationship_id: Annotated[
        str | None, typer.Option("--id", help="Own id; default program.mentee.mentor.")
    ] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="Compress program time (86400 = a day per second).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start one mentor-mentee relationship from flags or a YAML/JSON file."""
    flags = nest_people(
        {
            "program": program,
            "kind": kind.value if kind else None,
            "mentor_id": mentor_id,
            "mentor_name": mentor_name,
            "mentor_email": mentor_email,
            "mentee_id": mentee_id,
            "mentee_name": mentee_name,
            "mentee_email": mentee_email,
            "end_date": end_date,
            "topic": topic,
            "relationship_id": relationship_id,
        }
    )
    if time_scale is not None:
        flags["policy"] = {"time_scale": time_scale}
    operator = nest_people(
        {
            "operator_id": operator_id,
            "operator_name": operator_name,
            "operator_email": operator_email,
        }
    )
    body = merge(merge(operator, read_mapping(file) if file else {}), flags)
    now = now_utc()
    try:
        request = parse_request(body, now)
    except ValueError as err:
        fail(str(err))

    _admit_starter(request, now, quiet=as_json)

    async def work() -> bool:
        client = await connection.client()
        with ledger_to_check() as ledger:
            return await _start_one(client, request, now, ledger)

    created = connection.run(work)
    if as_json:
        print_json({"relationship_id": request.workflow_id, "created": created})
        return
    result = "started" if created else "already exists (nothing new started)"
    console.print(table("Relationship", STARTED_COLUMNS, [started_row(request, result)]))


def _admit_starter(request: StartRelationship, now: datetime, quiet: bool) -> None:
    """Only a program's operators start its relationships; a new program's first starter
    becomes its first operator."""
    with roster_ledger() as ledger:
        try:
            first = admit_starter(ledger.engine, request.program, request.operator, now)
        except NotOnRoster as err:
            fail(str(err), ExitCode.REFUSED)
    if first and not quiet:
        console.print(
            f"{request.operator.id} is the first operator of program {request.program}; "
            f"add others with `mentorflow operators add {request.program} ...`",
            highlight=False,
        )


async def _start_one(
    client: Client, request: StartRelationship, now: datetime, ledger: Ledger | None
) -> bool:
    """Start it (True), find it already there (False), or stop with the reason and the fix."""
    try:
        started = await start_relationship(
            client,
            request,
            connection.settings().task_queue,
            now,
            ledger=ledger,
            timeout=connection.command_timeout(),
        )
    except AlreadyInLedger as err:
        free = _free_id(ledger, err.relationship_id) if ledger else f"{err.relationship_id}-2"
        fail(
            f"relationship {err.relationship_id} already has a history in the ledger "
            f"({err.events} events; it ran before); start it under a new id, e.g. --id {free}"
        )
    except SQLAlchemyError as err:
        fail(
            f"cannot read the ledger ({first_line(err)}); nothing was started; "
            "check MENTORFLOW_LEDGER_URL and try again"
        )
    return started.created


def _free_id(ledger: Ledger, taken: str) -> str:
    """The first of taken-2, taken-3, ... the ledger has never seen."""
    for n in range(2, 100):
        candidate = f"{taken}-{n}"
        if ledger.last_seq(candidate) == 0:
            return candidate
    return f"{taken}-{now_utc():%Y%m%d}"


# --------------------------------------------------------------------------- import


def read_roster(path: Path) -> tuple[list[RosterRow], dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        return read_roster_text(str(path), text)
    except OSError as err:
        fail(f"{path}: cannot read it ({err.strerror}); check the path")
    except RosterUnreadable as err:
        fail(str(err))


async def start_rows(
    rows: list[RosterRow],
    now: datetime,
    concurrency: int,
    progress: Progress,
    ledger: Ledger | None = None,
) -> list[Outcome]:
    """Start every checked pair through the settings' Temporal, with a progress bar."""
    bar = progress.add_task("starting", total=len(rows))
    return await roster_import.start_rows(
        await connection.client(),
        rows,
        now,
        task_queue=connection.settings().task_queue,
        concurrency=concurrency,
        timeout=connection.command_timeout(),
        ledger=ledger,
        started_one=lambda: progress.advance(bar),
    )


def _roster_defaults(
    program: str | None, kind: Kind | None, operator: dict[str, Any]
) -> dict[str, Any]:
    return given(
        {"program": program, "kind": kind.value if kind else None, "operator": operator or None}
    )


def _report_problems(path: Path, bad: list[RosterRow], total: int, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "ok": False,
                "problems": [{"line": r.line, "problem": r.problem} for r in bad],
                "started": [],
            }
        )
    for row in bad:
        errors.print(f"{path}:{row.line}: {row.problem}", highlight=False, soft_wrap=True)
    fail(f"{len(bad)} of {total} rows are invalid; nothing was started. Fix them and import again")


@app.command("import")
def import_roster(
    roster: Annotated[Path, typer.Argument(help="CSV or YAML roster, one row per pair.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row; start none.")
    ] = False,
    program: Annotated[str | None, typer.Option(help="Program for rows without one.")] = None,
    kind: Annotated[Kind | None, typer.Option(help="Kind for rows without one.")] = None,
    operator_id: OperatorId = None,
    operator_name: OperatorName = None,
    operator_email: OperatorEmail = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=200, help="Relationships started at once.")
    ] = 16,
    as_json: JsonOpt = False,
) -> None:
    """Start every pair of a roster; rows already running are left alone (safe to re-run).

    Columns: program, kind, mentor_id, mentor_name, mentor_email, mentee_id, mentee_name,
    mentee_email, operator_id, operator_name, operator_email, end_date, topic, relationship_id.
    """
    rows, file_defaults = read_roster(roster)
    if not rows:
        fail(f"{roster}: no pairs in the roster; add one row per mentor-mentee pair")
    operator = nest_people(
        {
            "operator_id": operator_id,
            "operator_name": operator_name,
            "operator_email": operator_email,
        }
    ).get("operator", {})
    defaults = merge(nest_people(file_defaults), _roster_defaults(program, kind, operator))
    now = now_utc()
    check_rows(rows, defaults, now)
    if not dry_run:
        with roster_ledger() as ledger:
            refuse_strangers(ledger.engine, rows, now)
    bad = [r for r in rows if r.problem]
    if bad:
        _report_problems(roster, bad, len(rows), as_json)
    if dry_run:
        _show_dry_run(rows, as_json)
        return
    progress = progress_bar(disable=as_json)
    with ledger_to_check() as ledger, progress:
        outcomes = connection.run(lambda: start_rows(rows, now, concurrency, progress, ledger))
    _show_import(outcomes, as_json)


def _show_dry_run(rows: list[RosterRow], as_json: bool) -> None:
    requests = [r.request for r in rows if r.request is not None]
    if as_json:
        print_json({"ok": True, "dry_run": True, "valid": [r.workflow_id for r in requests]})
        return
    console.print(
        table("Would start", STARTED_COLUMNS, [started_row(r, "valid") for r in requests])
    )
    console.print(f"dry run: all {len(requests)} rows are valid; nothing was started")


_IMPORT_WORDS = {
    "started": "started",
    "exists": "already exists",
    "skipped": "already in the ledger, skipped",
    "failed": "failed",
}


def _show_import(outcomes: list[Outcome], as_json: bool) -> None:
    counts = {k: sum(1 for o in outcomes if o.result == k) for k in _IMPORT_WORDS}
    failed = [o for o in outcomes if o.result == "failed"]
    if as_json:
        print_json(_import_json(outcomes, failed))
    else:
        rows = [
            started_row(o.request, _IMPORT_WORDS[o.result] + (f": {o.reason}" if o.reason else ""))
            for o in outcomes
        ]
        console.print(table("Import", STARTED_COLUMNS, rows))
        console.print(_import_summary(counts), soft_wrap=True)
    if failed:
        code = ExitCode.NO_ANSWER if all(o.no_answer for o in failed) else ExitCode.BAD_INPUT
        fail(
            f"{len(failed)} pairs failed to start; fix the cause and import again (safe to re-run)",
            code,
        )


def _import_json(outcomes: list[Outcome], failed: list[Outcome]) -> dict[str, Any]:
    def ids(result: str) -> list[str]:
        return [o.request.workflow_id for o in outcomes if o.result == result]

    return {
        "ok": not failed,
        "dry_run": False,
        "started": ids("started"),
        "existing": ids("exists"),
        "skipped": [
            {"line": o.line, "relationship_id": o.request.workflow_id, "reason": o.reason}
            for o in outcomes
            if o.result == "skipped"
        ],
        "failed": [{"line": o.line, "problem": o.reason} for o in failed],
    }


def _import_summary(counts: dict[str, int]) -> str:
    line = f"started {counts['started']}, {counts['exists']} already exist"
    if counts["skipped"]:
        line += f", {counts['skipped']} already in the ledger (skipped)"
    if counts["started"] == 0 and not counts["failed"]:
        line += ": nothing new to start"
    return line
