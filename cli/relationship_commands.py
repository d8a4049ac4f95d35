"""Starting relationships: start and import (`list` and `status` have their own modules).

A roster is checked row by row before anything starts, so an operator fixes a spreadsheet
once instead of discovering its problems one started relationship at a time.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.progress import Progress
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from cli import connection
from cli.app import app
from cli.exit_codes import ExitCode
from cli.ledger_access import ledger_to_check, roster_ledger
from cli.output import console, errors, fail, print_json, progress_bar, table, validation_message
from client.access import NotOnRoster, admit_starter
from client.relationships import AlreadyInLedger, start_relationship
from client.waits import NoAnswer
from ledger.store import Ledger
from mentorship.enrolment import StartRelationship, check_start
from mentorship.events import Kind

ROLES = ("mentor", "mentee", "operator")
PERSON_FIELDS = ("id", "name", "email", "channel", "webhook_url", "timezone")
ROSTER_COLUMNS = (
    "program",
    "kind",
    "mentor_id",
    "mentor_name",
    "mentor_email",
    "mentee_id",
    "mentee_name",
    "mentee_email",
    "operator_id",
    "operator_name",
    "operator_email",
    "end_date",
    "topic",
    "relationship_id",
)

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


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, nested mappings merged key by key."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def given(fields: dict[str, Any]) -> dict[str, Any]:
    """Only what the user actually said: unset flags and empty cells are not values."""
    return {k: v for k, v in fields.items() if not _blank(v)}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


def nest_people(row: dict[str, Any]) -> dict[str, Any]:
    """Flat roster columns (mentor_email) into the request's shape (mentor.email)."""
    out: dict[str, Any] = {}
    for key, value in given(row).items():
        role, _, field = key.partition("_")
        if role in ROLES and field in PERSON_FIELDS:
            out.setdefault(role, {})[field] = value
        elif key in ROLES and isinstance(value, dict):
            out[key] = merge(out.get(key, {}), value)
        else:
            out[key] = value
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_request(body: dict[str, Any], now: datetime) -> StartRelationship:
    """A start request checked as the engine will check it. Raises ValueError naming the field."""
    if "operator" not in body:
        raise ValueError(
            "operator: missing; give --operator-id/--operator-name/--operator-email "
            "(or MENTORFLOW_OPERATOR_ID/_NAME/_EMAIL)"
        )
    try:
        request = StartRelationship.model_validate(body)
    except ValidationError as err:
        raise ValueError(validation_message(err)) from None
    check_start(request, now)
    return request


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
            f"cannot read the ledger ({_first_line(err)}); nothing was started; "
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


@dataclass
class RosterRow:
    line: int
    body: dict[str, Any]
    request: StartRelationship | None = None
    problem: str | None = None


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def read_csv_roster(path: Path, text: str) -> list[RosterRow]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        fail(f"{path}: the roster is empty; the first line names the columns")
    reader.fieldnames = [_column(f) for f in reader.fieldnames]
    rows = []
    for record in reader:
        cells = {k: (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
        if None in cells:
            rows.append(RosterRow(reader.line_num, {}, problem="row has more cells than columns"))
            continue
        if any(cells.values()):
            rows.append(RosterRow(reader.line_num, cells))
    return rows


def _yaml_items(path: Path, text: str) -> tuple[list[Any], list[int], dict[str, Any]]:
    """The roster's pairs, the line each starts on, and the roster-wide defaults."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        fail(f"{path}: not valid YAML ({err}); fix the syntax")
    defaults: dict[str, Any] = {}
    node = root
    if isinstance(data, dict) and isinstance(root, yaml.MappingNode):
        defaults = data.get("defaults") or {}
        if "pairs" not in data or not isinstance(defaults, dict):
            fail(f"{path}: expected a list of pairs, or a mapping with 'pairs' (and 'defaults')")
        node = next(v for k, v in root.value if k.value == "pairs")
        data = data["pairs"]
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        fail(f"{path}: 'pairs' must be a list, one entry per mentor-mentee pair")
    return data, [item.start_mark.line + 1 for item in node.value], defaults


def read_yaml_roster(path: Path, text: str) -> tuple[list[RosterRow], dict[str, Any]]:
    items, lines, defaults = _yaml_items(path, text)
    rows = []
    for item, line in zip(items, lines, strict=True):
        if isinstance(item, dict):
            rows.append(RosterRow(line, {str(k): v for k, v in item.items()}))
        else:
            rows.append(RosterRow(line, {}, problem="each pair is a mapping of column: value"))
    return rows, defaults


def read_roster(path: Path) -> tuple[list[RosterRow], dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        fail(f"{path}: cannot read it ({err.strerror}); check the path")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv_roster(path, text), {}
    if suffix in (".yaml", ".yml", ".json"):
        return read_yaml_roster(path, text)
    fail(f"{path}: unknown roster format '{suffix}'; use .csv, .yaml, .yml or .json")


def check_rows(rows: list[RosterRow], defaults: dict[str, Any], now: datetime) -> None:
    """Validate every row, so all problems are reported together; the same pair twice is one."""
    seen: dict[str, int] = {}
    for row in rows:
        if row.problem:
            continue
        try:
            row.request = parse_request(merge(defaults, nest_people(row.body)), now)
        except ValueError as err:
            row.problem = str(err)
            continue
        first = seen.setdefault(row.request.workflow_id, row.line)
        if first != row.line:
            row.problem = (
                f"relationship_id: {row.request.workflow_id} repeats line {first}; "
                "list each pair once"
            )


@dataclass
class Outcome:
    line: int
    request: StartRelationship
    result: str  # started | exists | skipped (a history in the ledger) | failed
    reason: str = ""
    no_answer: bool = False  # failed because Temporal did not answer in time


async def start_rows(
    rows: list[RosterRow],
    now: datetime,
    concurrency: int,
    progress: Progress,
    ledger: Ledger | None = None,
) -> list[Outcome]:
    """Start every pair, a bounded number at a time; one failure does not stop the others.
    With `ledger`, a pair whose id already has a history there is skipped, not started."""
    client = await connection.client()
    task_queue = connection.settings().task_queue
    timeout = connection.command_timeout()
    gate = asyncio.Semaphore(concurrency)
    bar = progress.add_task("starting", total=len(rows))

    async def one(line: int, request: StartRelationship) -> Outcome:
        async with gate:
            try:
                started = await start_relationship(
                    client, request, task_queue, now, ledger=ledger, timeout=timeout
                )
                outcome = Outcome(line, request, "started" if started.created else "exists")
            except AlreadyInLedger as err:
                outcome = Outcome(line, request, "skipped", _in_ledger(err))
            except NoAnswer as err:
                reason = f"Temporal did not answer within {err.seconds:g} s"
                outcome = Outcome(line, request, "failed", reason, no_answer=True)
            except (RPCError, ValueError, SQLAlchemyError) as err:
                outcome = Outcome(line, request, "failed", _first_line(err))
        progress.advance(bar)
        return outcome

    pending = [one(r.line, r.request) for r in rows if r.request is not None]
    return list(await asyncio.gather(*pending))


def _first_line(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    return text.splitlines()[0] if text.strip() else type(err).__name__


def _in_ledger(err: AlreadyInLedger) -> str:
    return (
        f"it ran before ({err.events} events); give the row a new relationship_id to start it again"
    )


def _roster_defaults(
    program: str | None, kind: Kind | None, operator: dict[str, Any]
) -> dict[str, Any]:
    return given(
        {"program": program, "kind": kind.value if kind else None, "operator": operator or None}
    )


def _refuse_strangers(rows: list[RosterRow], now: datetime) -> None:
    """A row whose operator does not run its program is a bad row: nothing starts."""
    with roster_ledger() as ledger:
        for row in rows:
            if row.request is None or row.problem:
                continue
            try:
                admit_starter(ledger.engine, row.request.program, row.request.operator, now)
            except NotOnRoster as err:
                row.problem = f"operator_id: {err}"


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
        _refuse_strangers(rows, now)
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
