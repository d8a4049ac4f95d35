"""Roster import in the portal: paste or upload a roster, see every bad row as
`line: field: problem` before anything starts, then start the pairs that were shown.

The same reading and checking as `mentorflow import` (`client.roster_import`). The start
step reads and checks the roster again rather than trusting the preview, so nothing starts
from a roster with a bad row, whatever the browser sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from client import roster_import as ri
from ledger import rosters
from web import views
from web.ops import not_signed_in, operator_of

log = structlog.get_logger("mentorflow.portal")
MAX_ROSTER_BYTES = 2_000_000
MAX_ROWS = 1000  # more than this in one browser request: split it, or `mentorflow import`
CONCURRENCY = 16
FORMATS = ("csv", "yaml")


class Refused(ValueError):
    """The submitted roster as a whole: which form field, and what to do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def routes(portal: Any, env: Environment) -> list[Route]:
    def render(request: Request, code: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("errors", {})
        values.setdefault("entered", {})
        return views.page(env, "ops_import.html", code, csrf=views.csrf_token(request), **values)

    async def import_page(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        entries = await run_in_threadpool(
            rosters.programs_of, portal.ledger.engine, operator_id=who.operator_id
        )
        programs = [e.program for e in entries]
        if request.method == "GET":
            return render(request, programs=programs, columns=ri.ROSTER_COLUMNS)
        shown: dict[str, Any] = {"programs": programs, "columns": ri.ROSTER_COLUMNS}
        try:  # the pasted text is carried to the start step as a field: the same bound
            form = await request.form(max_part_size=MAX_ROSTER_BYTES + 64 * 1024)
        except HTTPException:
            errors = {"text": "text: larger than 2 MB; split the roster"}
            return render(request, 400, errors=errors, **shown)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not views.csrf_ok(request, fields):
            return render(request, 403, problem="This form has expired; reload the page.", **shown)
        try:
            name, text = await _roster_of(form.get("file"), fields)
            program = _program_of(fields, programs)
        except Refused as err:
            errors = {err.field: str(err)}
            return render(request, 400, errors=errors, entered=fields, **shown)
        entry = next(e for e in entries if e.program == program)
        now = await portal.clock()
        checked = await run_in_threadpool(_check, portal, name, text, entry, who.operator_id, now)
        if isinstance(checked, Refused):
            errors = {checked.field: str(checked)}
            return render(request, 400, errors=errors, entered=fields, **shown)
        rows = checked
        bad = ri.problems(rows)
        step = fields.get("step", "check")
        if bad or step != "start":
            code = 400 if bad else 200
            return render(
                request, code, rows=rows, bad=bad, name=name, text=text, entered=fields, **shown
            )
        outcomes = await ri.start_rows(
            await portal.temporal(),
            rows,
            now,
            task_queue=portal.task_queue,
            concurrency=CONCURRENCY,
            timeout=10.0,
            ledger=portal.ledger,
        )
        log.info(
            "portal.roster_imported",
            operator=who.operator_id,
            program=program,
            started=sum(1 for o in outcomes if o.result == "started"),
            failed=sum(1 for o in outcomes if o.result == "failed"),
        )
        return render(request, outcomes=outcomes, name=name, entered=fields, **shown)

    return [Route("/ops/import", import_page, methods=["GET", "POST"])]


async def _roster_of(upload: Any, fields: dict[str, str]) -> tuple[str, str]:
    """The roster's name (for its format) and text: an uploaded file, else the pasted text."""
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_ROSTER_BYTES + 1)
        if len(data) > MAX_ROSTER_BYTES:
            raise Refused("file", "file: larger than 2 MB; split the roster")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Refused("file", "file: not UTF-8 text; save the roster as UTF-8 CSV") from None
        try:
            ri.format_of(upload.filename)
        except ri.RosterUnreadable as err:
            raise Refused("file", f"file: {err}") from None
        return upload.filename, text
    text = fields.get("text", "")
    if not text.strip():
        raise Refused("text", "text: empty; paste the roster here, or choose a file")
    shape = fields.get("format", "csv")
    if shape not in FORMATS:
        raise Refused("format", f"format: '{shape}' is not one of csv, yaml; choose one")
    return f"roster.{shape}", text


def _program_of(fields: dict[str, str], programs: list[str]) -> str:
    program = fields.get("program", "")
    if not programs:
        raise Refused("program", "program: you run no program yet; start one with the CLI")
    if program not in programs:
        listed = ", ".join(programs)
        raise Refused("program", f"program: '{program}' is not one you run ({listed}); pick one")
    return program


def _check(
    portal: Any,
    name: str,
    text: str,
    operator: rosters.RosterEntry,
    operator_id: str,
    now: datetime,
) -> list[ri.RosterRow] | Refused:
    """Read and check every row; a row of another program or operator must be theirs too."""
    try:
        rows, file_defaults = ri.read_roster_text(name, text)
    except ri.RosterUnreadable as err:
        return Refused("text", str(err))
    if not rows:
        return Refused("text", f"{name}: no pairs in the roster; add one row per pair")
    if len(rows) > MAX_ROWS:
        return Refused(
            "text",
            f"{name}: {len(rows)} pairs; import at most {MAX_ROWS} at a time here, or use "
            "`mentorflow import`",
        )
    page_defaults = {
        "program": operator.program,
        "operator": {"id": operator.operator_id, "name": operator.name, "email": operator.email},
    }
    # What the page says wins over the file's defaults, as the CLI's flags do; a row's own
    # cells win over both.
    ri.check_rows(rows, ri.merge(ri.nest_people(file_defaults), page_defaults), now)
    ri.refuse_outside(portal.ledger.engine, rows, operator_id)
    return rows
