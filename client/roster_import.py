"""A roster of pairs, read and checked row by row before anything starts, then started.

The CLI's `import` and the portal's import page both come here, so a spreadsheet gets the
same `line: field: problem` list wherever it is uploaded, and nothing starts while one row
is wrong.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from client.access import NotOnRoster, admit, admit_starter
from client.messages import validation_message
from client.relationships import AlreadyInLedger, start_relationship
from client.waits import NoAnswer
from ledger.store import Ledger
from mentorship.enrolment import StartRelationship, check_start

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
FORMATS = {".csv": "csv", ".yaml": "yaml", ".yml": "yaml", ".json": "yaml"}


class RosterUnreadable(ValueError):
    """The roster as a whole cannot be read (not one row of it): names it and the fix."""


@dataclass
class RosterRow:
    line: int
    body: dict[str, Any]
    request: StartRelationship | None = None
    problem: str | None = None
    flat: bool = False  # a CSV row: its problems name columns (mentor_email), not mentor.email


@dataclass
class Outcome:
    line: int
    request: StartRelationship
    result: str  # started | exists | skipped (a history in the ledger) | failed
    reason: str = ""
    no_answer: bool = False  # failed because Temporal did not answer in time


# ----------------------------------------------------------------------- shaping fields


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


# --------------------------------------------------------------------------- reading


def format_of(name: str) -> str:
    """`csv` or `yaml` (JSON is read as YAML, its superset) from a file's name."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise RosterUnreadable(
            f"{name}: unknown roster format '{suffix}'; use .csv, .yaml, .yml or .json"
        )
    return FORMATS[suffix]


def read_roster_text(name: str, text: str) -> tuple[list[RosterRow], dict[str, Any]]:
    """Its rows and its roster-wide defaults (YAML's `defaults:`). Raises RosterUnreadable."""
    text = text.removeprefix("\ufeff")  # a spreadsheet's byte-order mark
    if format_of(name) == "csv":
        return _csv_rows(name, text), {}
    return _yaml_rows(name, text)


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _csv_rows(name: str, text: str) -> list[RosterRow]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise RosterUnreadable(f"{name}: the roster is empty; the first line names the columns")
    reader.fieldnames = [_column(f) for f in reader.fieldnames]
    rows = []
    for record in reader:
        cells = {k: (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
        if None in cells:
            rows.append(RosterRow(reader.line_num, {}, problem="row has more cells than columns"))
            continue
        if any(cells.values()):
            rows.append(RosterRow(reader.line_num, cells, flat=True))
    return rows


def _yaml_items(name: str, text: str) -> tuple[list[Any], list[int], dict[str, Any]]:
    """The roster's pairs, the line each starts on, and the roster-wide defaults."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RosterUnreadable(f"{name}: not valid YAML ({err}); fix the syntax") from None
    defaults: dict[str, Any] = {}
    node = root
    if isinstance(data, dict) and isinstance(root, yaml.MappingNode):
        defaults = data.get("defaults") or {}
        if "pairs" not in data or not isinstance(defaults, dict):
            raise RosterUnreadable(
                f"{name}: expected a list of pairs, or a mapping with 'pairs' (and 'defaults')"
            )
        node = next(v for k, v in root.value if k.value == "pairs")
        data = data["pairs"]
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise RosterUnreadable(f"{name}: 'pairs' must be a list, one entry per mentor-mentee pair")
    return data, [item.start_mark.line + 1 for item in node.value], defaults


def _yaml_rows(name: str, text: str) -> tuple[list[RosterRow], dict[str, Any]]:
    items, lines, defaults = _yaml_items(name, text)
    rows = []
    for item, line in zip(items, lines, strict=True):
        if isinstance(item, dict):
            rows.append(RosterRow(line, {str(k): v for k, v in item.items()}))
        else:
            rows.append(RosterRow(line, {}, problem="each pair is a mapping of column: value"))
    return rows, defaults


# -------------------------------------------------------------------------- checking


def check_rows(rows: list[RosterRow], defaults: dict[str, Any], now: datetime) -> None:
    """Validate every row, so all problems are reported together; the same pair twice is one."""
    seen: dict[str, int] = {}
    for row in rows:
        if row.problem:
            continue
        try:
            row.request = parse_request(merge(defaults, nest_people(row.body)), now)
        except ValueError as err:
            row.problem = _as_columns(str(err)) if row.flat else str(err)
            continue
        first = seen.setdefault(row.request.workflow_id, row.line)
        if first != row.line:
            row.problem = (
                f"relationship_id: {row.request.workflow_id} repeats line {first}; "
                "list each pair once"
            )


_NESTED = re.compile(rf"\b({'|'.join(ROLES)})\.({'|'.join(PERSON_FIELDS)}):")


def _as_columns(problem: str) -> str:
    """`mentor.email: ...` as the CSV column the operator typed: `mentor_email: ...`."""
    return _NESTED.sub(r"\1_\2:", problem)


def refuse_strangers(engine: Engine, rows: list[RosterRow], now: datetime) -> None:
    """A row whose operator does not run its program is a bad row: nothing starts. A new
    program's first row makes its operator the program's first operator (as `start` does)."""
    for row in rows:
        if row.request is None or row.problem:
            continue
        try:
            admit_starter(engine, row.request.program, row.request.operator, now)
        except NotOnRoster as err:
            row.problem = f"operator_id: {err}"


def refuse_outside(engine: Engine, rows: list[RosterRow], operator_id: str) -> None:
    """The portal's import: the signed-in operator starts only in programs they run, and
    every row's operator runs it too (no new programs from the browser)."""
    for row in rows:
        if row.request is None or row.problem:
            continue
        program = row.request.program
        for field, who in (("program", operator_id), ("operator_id", row.request.operator.id)):
            try:
                admit(engine, program, who)
            except NotOnRoster as err:
                row.problem = f"{field}: {err}"
                break


def problems(rows: list[RosterRow]) -> list[RosterRow]:
    return [r for r in rows if r.problem]


# -------------------------------------------------------------------------- starting


async def start_rows(
    client: Client,
    rows: list[RosterRow],
    now: datetime,
    *,
    task_queue: str,
    concurrency: int,
    timeout: float | None,
    ledger: Ledger | None = None,
    started_one: Callable[[], None] = lambda: None,
) -> list[Outcome]:
    """Start every checked pair, a bounded number at a time; one failure does not stop the
    others. With `ledger`, a pair whose id already has a history there is skipped."""
    gate = asyncio.Semaphore(concurrency)

    async def one(line: int, request: StartRelationship) -> Outcome:
        async with gate:
            try:
                started = await start_relationship(
                    client, request, task_queue, now, ledger=ledger, timeout=timeout
                )
                outcome = Outcome(line, request, "started" if started.created else "exists")
            except AlreadyInLedger as err:
                outcome = Outcome(line, request, "skipped", in_ledger(err))
            except NoAnswer as err:
                reason = f"Temporal did not answer within {err.seconds:g} s"
                outcome = Outcome(line, request, "failed", reason, no_answer=True)
            except (RPCError, ValueError, SQLAlchemyError) as err:
                outcome = Outcome(line, request, "failed", first_line(err))
        started_one()
        return outcome

    pending = [one(r.line, r.request) for r in rows if r.request is not None]
    return list(await asyncio.gather(*pending))


def first_line(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    return text.splitlines()[0] if text.strip() else type(err).__name__


def in_ledger(err: AlreadyInLedger) -> str:
    return (
        f"it ran before ({err.events} events); give the row a new relationship_id to start it again"
    )
