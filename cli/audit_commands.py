"""`mentorflow history` and `mentorflow audit`: what happened, the state on any date, proof.

History, verify and export read only the ledger, so they work years after Temporal dropped
the runs. `audit diff` and `history --execution` ask Temporal too: the first to prove that the
live state and the ledger agree, the second for engineers looking at the current run.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli.app import app
from cli.connection import client, command_timeout, run
from cli.exit_codes import ExitCode
from cli.ledger_access import checkpoint_store, open_ledger
from cli.output import console, errors, fail, print_json, progress_bar, table, warn
from client.relationships import status
from client.waits import NoAnswer, Waited, within
from ledger import audit, summaries
from ledger.store import Ledger, canonical_json
from ledger.verification import Verdict, VerifyReport
from mentorship.events import Recorded
from mentorship.narrative import Narration, narrate, when
from mentorship.state import RelationshipState

audit_app = typer.Typer(
    name="audit",
    help="Prove the ledger: verify its hash chains, compare it with the live state, export it.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

# Waiting for a workflow that is still writing its last events to the ledger.
_LEDGER_CATCH_UP_TRIES = 20
_LEDGER_CATCH_UP_PAUSE = 0.25
_CELL = 120


class HistoryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


RelationshipArg = Annotated[str, typer.Argument(help="relationship id, e.g. eng-2026.bob.alice")]
JsonFlag = Annotated[bool, typer.Option("--json", help="JSON for scripts (same as --format json)")]


# --------------------------------------------------------------------------- shared plumbing


LONG_HISTORY = 200  # rows; longer histories print as lines


def parse_moment(text: str) -> datetime:
    """A bare date means the end of that day in UTC: 'the state on 2026-03-01'."""
    try:
        return datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--as-of: {text!r} is not a date or time; use 2026-03-01 or 2026-03-01T15:00Z")
    if moment.tzinfo is None or moment.utcoffset() is None:
        fail(f"--as-of: {text!r} has no time zone; add one, e.g. {text}Z or {text}+01:00")
    return moment.astimezone(UTC)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection): a meeting
# note "=HYPERLINK(...)" would run when an operator opens the export.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: Any) -> Any:
    """Participants' text as text: a leading apostrophe, which spreadsheets hide, disarms it."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def _write_csv(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _choose(format_: HistoryFormat, as_json: bool) -> HistoryFormat:
    return HistoryFormat.JSON if as_json else format_


# --------------------------------------------------------------------------- history


@app.command("history")
def history_command(
    relationship_id: RelationshipArg,
    format_: Annotated[
        HistoryFormat, typer.Option("--format", "-f", help="table for people, json/csv for tools")
    ] = HistoryFormat.TABLE,
    as_json: JsonFlag = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATETIME",
            help="show the state on this date instead: 2026-03-01 (end of day, UTC) or "
            "2026-03-01T15:00Z",
        ),
    ] = None,
    execution: Annotated[
        bool,
        typer.Option("--execution", help="Temporal's own event history of the current run"),
    ] = False,
) -> None:
    """A relationship's timeline in the program's words, across every run, from the ledger."""
    chosen = _choose(format_, as_json)
    if as_of is not None and execution:
        fail("--as-of and --execution answer different questions; use one of them")
    if execution:
        _show_execution(relationship_id, chosen)
    elif as_of is not None:
        _show_state_as_of(relationship_id, parse_moment(as_of), chosen)
    else:
        _show_history(relationship_id, chosen)


def _show_history(relationship_id: str, chosen: HistoryFormat) -> None:
    with open_ledger() as ledger:
        try:
            records = audit.history(ledger, relationship_id)
        except LookupError as err:
            fail(str(err))
        except ValueError as err:
            fail(
                f"the ledger holds an unreadable event for {relationship_id} "
                f"({str(err).splitlines()[0]}); run `mentorflow audit verify {relationship_id}`"
            )
        report = audit.verify(ledger, relationship_id)
    gap = audit.sequence_gap(records)
    problem = gap or (report.problem.reason if report.problem else None)
    _print_history(relationship_id, records, problem, chosen)
    if problem is not None:
        fail(
            f"the history of {relationship_id} is not intact: {problem}; "
            f"run `mentorflow audit verify {relationship_id}`"
        )


def _print_history(
    relationship_id: str, records: list[Recorded], problem: str | None, chosen: HistoryFormat
) -> None:
    lines = narrate(records)
    if chosen is HistoryFormat.JSON:
        print_json(
            {
                "relationship_id": relationship_id,
                "intact": problem is None,
                "problem": problem,
                "events": [
                    {
                        "seq": rec.seq,
                        "key": rec.key,
                        "occurred_at": rec.occurred_at,
                        "actor": str(rec.actor),
                        "type": rec.event.type,
                        "cause": rec.cause,
                        "sentence": line.sentence,
                        "event": rec.event,
                    }
                    for rec, line in zip(records, lines, strict=True)
                ],
            }
        )
    elif chosen is HistoryFormat.CSV:
        _write_csv(
            sys.stdout,
            ["seq", "occurred_at", "actor", "type", "sentence", "cause", "key"],
            [_csv_row(r, ln) for r, ln in zip(records, lines, strict=True)],
        )
    elif len(lines) > LONG_HISTORY:
        # Hundreds of wrapped table rows are slow to draw and hard to scan: one line each.
        console.print(f"{relationship_id}: {len(records)} events", highlight=False)
        for ln in lines:
            why = f"  (why: {ln.why})" if ln.why else ""
            console.print(
                f"{ln.seq:>5}  {ln.when}  {ln.who}: {ln.what}{why}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if problem is None:
            console.print(f"events 1..{len(records)}, no gaps; hash chain intact")
    else:
        grid = table(
            f"{relationship_id}: {len(records)} events",
            ["#", "when (UTC)", "who", "what", "why"],
            [[ln.seq, ln.when.removesuffix(" UTC"), ln.who, ln.what, ln.why] for ln in lines],
        )
        grid.expand = True
        grid.columns[1].no_wrap = True
        for column, share in zip(grid.columns[2:], (2, 5, 3), strict=True):
            column.ratio = share
        console.print(grid)
        if problem is None:
            console.print(f"events 1..{len(records)}, no gaps; hash chain intact")


def _csv_row(rec: Recorded, line: Narration) -> list[Any]:
    when_, actor = rec.occurred_at.isoformat(), str(rec.actor)
    return [rec.seq, when_, actor, rec.event.type, line.sentence, rec.cause, rec.key]


def _show_state_as_of(relationship_id: str, moment: datetime, chosen: HistoryFormat) -> None:
    with open_ledger() as ledger:
        try:
            state = audit.state_as_of(ledger, relationship_id, moment)
        except (LookupError, ValueError) as err:
            fail(str(err))
        report = audit.verify(ledger, relationship_id)
    if chosen is HistoryFormat.JSON:
        print_json({"relationship_id": relationship_id, "as_of": moment, "state": state})
    elif chosen is HistoryFormat.CSV:
        _write_csv(sys.stdout, ["field", "value"], _state_rows(state, moment))
    else:
        grid = table(
            f"{relationship_id} as of {when(moment)}", ["", ""], _state_rows(state, moment)
        )
        grid.show_header = False
        console.print(grid)
    if report.problem is not None:
        fail(
            f"this state is folded from a ledger that is not intact: {report.problem.reason}; "
            f"run `mentorflow audit verify {relationship_id}`"
        )


def _state_rows(s: RelationshipState, moment: datetime) -> list[list[str]]:
    meeting = s.next_meeting
    review = s.open_review
    risk = f"yes: {'; '.join(s.risk_reasons)}" if s.at_risk else "no"
    rows = [
        ["as of", when(moment)],
        ["program", s.program],
        ["kind", s.kind.value],
        ["phase", s.phase.value],
        ["at risk", risk],
        ["mentor", s.mentor.name if s.mentor else ""],
        ["mentee", s.mentee.name if s.mentee else ""],
        ["cadence", s.cadence.describe() if s.cadence else "not agreed yet"],
        ["meetings", f"{s.meetings_held} held, {s.meetings_missed} missed"],
        ["next meeting", f"{meeting.number} at {when(meeting.scheduled_at)}" if meeting else ""],
        ["open review", f"{review.number} due {when(review.due_at)}" if review else ""],
        ["feedback loops", f"{s.loops_closed} closed of {s.loops_requested}"],
        ["open action items", str(len(s.open_items()))],
        ["end date", s.end_date.isoformat() if s.end_date else ""],
        ["outcome", s.outcome.value if s.outcome else ""],
        ["events folded", str(s.seq)],
    ]
    return rows


def _show_execution(relationship_id: str, chosen: HistoryFormat) -> None:
    async def fetch() -> list[audit.ExecutionEvent]:
        connected = await client()
        seconds = command_timeout()
        try:
            async with within(
                seconds, partial(NoAnswer, Waited.TEMPORAL, seconds, relationship_id)
            ):
                return await audit.execution_history(connected, relationship_id)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                fail(
                    f"Temporal has no run of {relationship_id} (finished runs are dropped after "
                    f"the retention period); the ledger keeps it: `mentorflow history "
                    f"{relationship_id}`"
                )
            raise

    events = run(fetch)
    if chosen is HistoryFormat.JSON:
        print_json(events)
    elif chosen is HistoryFormat.CSV:
        _write_csv(
            sys.stdout,
            ["id", "time", "type", "details"],
            [
                [e.id, e.time.isoformat(), e.type, json.dumps(e.details, default=str)]
                for e in events
            ],
        )
    else:
        grid = table(
            f"{relationship_id}: Temporal history of the current run ({len(events)} events)",
            ["#", "time (UTC)", "type", "details"],
            [[e.id, _instant(e.time), e.type, _short(_essentials(e.details))] for e in events],
        )
        grid.columns[2].no_wrap = True
        console.print(grid)


# Bookkeeping that says nothing about what the workflow did; `--json` still carries it.
_NOISE = frozenset(
    {
        "identity",
        "binary_checksum",
        "sdk_metadata",
        "history_size_bytes",
        "worker_version",
        "header",
        "task_queue",
        "workflow_task_completed_event_id",
        "scheduled_event_id",
        "started_event_id",
        "request_id",
        "meta",
        "protocol_instance_id",
        "accepted_request_message_id",
        "accepted_request_sequencing_event_id",
    }
)


def _essentials(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k not in _NOISE}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# --------------------------------------------------------------------------- audit verify


@audit_app.command("verify")
def verify_command(
    relationship_id: Annotated[
        str | None, typer.Argument(help="relationship id; or --all for every relationship")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="verify every relationship")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check numbering, hash chains, seals and the newest signed checkpoint. Exit 6 when an
    event was altered, 7 when events are missing, 8 when a row cannot be checked here."""
    if (relationship_id is None) == (not all_):
        fail("give a relationship id or --all (not both)")
    with open_ledger() as ledger:
        trust = audit.trust_of(ledger, checkpoint_store())
        if relationship_id is not None:
            reports = [audit.verify(ledger, relationship_id, trust)]
            if (
                reports[0].checked == 0
                and reports[0].anchor is None
                and not ledger.raw_rows(relationship_id)
            ):
                fail(
                    f"the ledger has no events for {relationship_id!r}; check the id "
                    "(`mentorflow list` or `mentorflow audit verify --all`)"
                )
        else:
            reports = audit.verify_all(ledger, trust)
    if not reports:
        fail("the ledger holds no relationships yet; nothing to verify")
    log_problems = trust.log.problems if trust.log else []
    if as_json:
        print_json({"relationships": reports, "checkpoints": log_problems})
    else:
        _show_verification(reports, trust)
    _exit_with_verdict(reports, [p.reason for p in log_problems])


def _show_verification(reports: list[VerifyReport], trust: audit.Trust) -> None:
    rows = [
        [r.relationship_id, r.checked, _sealed(r, trust), _anchored(r), _verdict(r)]
        for r in reports
    ]
    columns = ["relationship", "events intact", "sealed", "checkpoint", "result"]
    console.print(table("ledger verification", columns, rows))
    if trust.keys is None:
        warn(
            "seals not checked: no ledger keys here (MENTORFLOW_LEDGER_KEYS or "
            "MENTORFLOW_LEDGER_KEYS_FILE); without them an event rewritten with every later "
            "hash recomputed would pass"
        )
    if trust.log is not None and trust.log.count == 0:
        warn(
            "no checkpoints yet (MENTORFLOW_CHECKPOINT_DIR): events deleted from the tail "
            "cannot be noticed until one is written (`mentorflow audit checkpoint`)"
        )


def _sealed(report: VerifyReport, trust: audit.Trust) -> str:
    if trust.keys is None:
        return "not checked"
    return "yes" if report.sealed else "no (written before keys)"


def _anchored(report: VerifyReport) -> str:
    anchor = report.anchor
    return f"#{anchor.checkpoint} at event {anchor.seq}" if anchor else "none"


_EXIT_FOR = {
    Verdict.ALTERED: ExitCode.ALTERED,
    Verdict.MISSING: ExitCode.MISSING,
    Verdict.UNREADABLE: ExitCode.UNREADABLE,
}


def _exit_with_verdict(reports: list[VerifyReport], log_problems: list[str]) -> None:
    """One line for the worst finding, and its exit code; a broken checkpoint log is altered."""
    broken = sorted((r for r in reports if not r.ok), key=lambda r: -r.verdict.severity)
    if log_problems:
        more = f" (and {len(log_problems) - 1} more)" if len(log_problems) > 1 else ""
        fail(f"altered: checkpoint log: {log_problems[0]}{more}", ExitCode.ALTERED)
    if not broken:
        return
    first = broken[0]
    more = f" (and {len(broken) - 1} more relationships)" if len(broken) > 1 else ""
    reason = first.problem.reason if first.problem else "unknown problem"
    fail(
        f"{first.verdict.value}: {first.relationship_id}: {reason}{more}", _EXIT_FOR[first.verdict]
    )


def _verdict(report: VerifyReport) -> str:
    if report.ok:
        return "intact"
    lines = [f"{p.verdict.value.upper()}: {p.reason}" for p in report.findings]
    return "\n".join(lines)


@audit_app.command("checkpoint")
def checkpoint_command(as_json: JsonFlag = False) -> None:
    """Sign every relationship's head into the checkpoint store (the worker also does it
    on a schedule and at every conclusion)."""
    with open_ledger() as ledger:
        if ledger.seal is None:
            fail(
                "checkpoints are signed with the ledger keys, and none are configured here; "
                "set MENTORFLOW_LEDGER_KEYS (or MENTORFLOW_LEDGER_KEYS_FILE)",
                ExitCode.REFUSED,
            )
        store = checkpoint_store()
        written = store.write(ledger, ledger.seal)
    if written is None:
        fail("the ledger holds no relationships yet; nothing to checkpoint")
    if as_json:
        print_json(written)
        return
    console.print(
        f"checkpoint {written.number}: {len(written.heads)} relationship head(s) signed with "
        f"key {written.key_id}, in {store.folder}"
    )


# --------------------------------------------------------------------------- audit diff


@audit_app.command("diff")
def diff_command(
    relationship_id: Annotated[
        str | None, typer.Argument(help="relationship id; or --all for every open relationship")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="every relationship still open")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compare the live workflow state (status query) with the ledger's fold; they must agree."""
    if (relationship_id is None) == (not all_):
        fail("give a relationship id or --all (not both)")
    with open_ledger() as ledger:
        ids = [relationship_id] if relationship_id is not None else _open_relationships(ledger)
        if not ids:
            fail("no open relationship in the ledger; nothing to compare")
        results = run(lambda: _compare_all(ledger, ids))
    _print_diffs(results, as_json)
    disagreeing = [r for r in results if r.verdict != "agree"]
    if disagreeing:
        first = disagreeing[0]
        fields = ", ".join(d.field for d in first.differences)
        detail = f"they differ in {fields}" if fields else first.verdict
        fail(f"{first.relationship_id}: live state and ledger disagree: {detail}")


@dataclass(frozen=True)
class _Comparison:
    relationship_id: str
    live_seq: int | None
    ledger_seq: int
    verdict: str
    differences: list[audit.Difference] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "relationship_id": self.relationship_id,
            "live_seq": self.live_seq,
            "ledger_seq": self.ledger_seq,
            "agree": self.verdict == "agree",
            "verdict": self.verdict,
            "differences": [d.model_dump(mode="json") for d in self.differences],
        }


def _open_relationships(ledger: Ledger) -> list[str]:
    """From the summary read model: one indexed read, however long the histories."""
    found = summaries.find(ledger.engine, summaries.Filters(open_only=True))
    return [s.relationship_id for s in found]


async def _compare_all(ledger: Ledger, ids: list[str]) -> list[_Comparison]:
    connected = await client()
    return [await _compare(connected, ledger, rid) for rid in ids]


async def _compare(connected: Client, ledger: Ledger, relationship_id: str) -> _Comparison:
    """A workflow may still be writing its newest events; give the ledger a moment to catch
    up before calling a lag a disagreement."""
    for attempt in range(_LEDGER_CATCH_UP_TRIES):
        try:
            view = await status(connected, relationship_id, timeout=command_timeout())
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            return _Comparison(relationship_id, None, ledger.last_seq(relationship_id), _GONE)
        except WorkflowQueryFailedError as err:
            return _Comparison(relationship_id, None, 0, f"status query failed: {err}")
        audited = audit.ledger_state(ledger, relationship_id)
        caught_up = audited.seq >= view.state.seq
        if caught_up or attempt == _LEDGER_CATCH_UP_TRIES - 1:
            break
        await asyncio.sleep(_LEDGER_CATCH_UP_PAUSE)
    found = audit.differences(view.state, audited)
    verdict = "agree" if not found else f"differ in {len(found)} fields"
    if not caught_up:
        verdict = f"the ledger stops at event {audited.seq}, the workflow is at {view.state.seq}"
    return _Comparison(relationship_id, view.state.seq, audited.seq, verdict, found)


_GONE = "Temporal no longer has this relationship; only the ledger does"


def _print_diffs(results: list[_Comparison], as_json: bool) -> None:
    if as_json:
        print_json([r.as_json() for r in results])
        return
    console.print(
        table(
            "live state vs ledger",
            ["relationship", "live event", "ledger event", "result"],
            [[r.relationship_id, r.live_seq, r.ledger_seq, r.verdict] for r in results],
        )
    )
    for r in results:
        if r.differences:
            console.print(
                table(
                    f"{r.relationship_id}: where they differ",
                    ["field", "live", "ledger"],
                    [[d.field, _short(d.live), _short(d.ledger)] for d in r.differences],
                )
            )


# --------------------------------------------------------------------------- audit rebuild


@audit_app.command("rebuild")
def rebuild_command(as_json: JsonFlag = False) -> None:
    """Fold every relationship's summary (what list, report and diff --all read) again from
    its events. Safe while workers run: each chunk of relationships is one transaction."""
    with open_ledger() as ledger:
        total = len(ledger.relationship_ids())
        with progress_bar(disable=as_json) as progress:
            task = progress.add_task("folding summaries", total=total)
            written = ledger.rebuild_summaries(lambda n: progress.advance(task, n))
        problems = summaries.find(ledger.engine, summaries.Filters(with_problem=True))
    if as_json:
        print_json({"rebuilt": written, "problems": [p.model_dump(mode="json") for p in problems]})
    else:
        console.print(f"rebuilt {written} relationship summaries from the ledger's events")
        for p in problems:
            warn(f"{p.relationship_id}: stops at event {p.last_seq}: {p.problem}")


# --------------------------------------------------------------------------- audit export


@audit_app.command("export")
def export_command(
    program: Annotated[str, typer.Option("--program", "-p", help="the program to export")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="jsonl (one event a line) or csv")
    ] = ExportFormat.JSONL,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write; stdout if left out")
    ] = None,
) -> None:
    """Every event of a program, with its sentence and hashes, for archives and analysis."""
    with open_ledger() as ledger:
        try:
            rows = audit.export_rows(ledger, program)
        except LookupError as err:
            fail(str(err))
        except ValueError as err:
            fail(
                f"the ledger holds an unreadable event in {program} ({str(err).splitlines()[0]}); "
                "run `mentorflow audit verify --all`"
            )
    if output is None:
        _write_export(sys.stdout, rows, format_)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as out:
            _write_export(out, rows, format_)
    except OSError as err:
        fail(f"--output: cannot write {output}: {err.strerror}")
    relationships = len({r.relationship_id for r in rows})
    errors.print(
        f"wrote {len(rows)} events of {relationships} relationships in {program} to {output}",
        highlight=False,
    )


_EXPORT_COLUMNS = [
    "program",
    "relationship_id",
    "seq",
    "key",
    "occurred_at",
    "recorded_at",
    "actor",
    "type",
    "cause",
    "sentence",
    "event",
    "prev_hash",
    "hash",
    "hashed",
    "seal_key",
    "seal",
]


def _write_export(out: TextIO, rows: list[audit.ExportRow], format_: ExportFormat) -> None:
    if format_ is ExportFormat.JSONL:
        for row in rows:
            out.write(row.model_dump_json() + "\n")
        return
    table_rows = []
    for row in rows:
        data = row.model_dump(mode="json")
        data["event"] = canonical_json(row.event)
        table_rows.append([data[c] for c in _EXPORT_COLUMNS])
    _write_csv(out, _EXPORT_COLUMNS, table_rows)
