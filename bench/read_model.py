"""9. The operator's reads at program scale: `report` and `list --at-risk` over a large ledger.

A generated ledger of relationships with three years of events each (10,000 of them, about 5.6
million rows, in the full run; 500 in `--quick`) is written straight into SQLite and into
PostgreSQL, with the summaries the projection computes for them. Each read is timed two ways:
in process, against the plain SQL aggregate over the same summary table (the floor of any
read of it), and as the command a person types (a fresh `mentorflow` process), whose target is
under a second. A scan of the events table shows what any report folding events must pay.

Histories come from four journeys driven through the pure domain: weekly and fortnightly
three-year relationships held to the end, the weekly one cut two years in (open and healthy)
and a fortnightly one that goes silent after a year (open and at risk). Rows are copies of those
under new ids; their hashes are well-formed but not chained, since nothing here verifies.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, text

from bench.common import Bench, Report, Row, median_seconds
from ledger import projection, summaries
from ledger.chain import canonical_json, event_key
from ledger.outcomes import program_reports, program_series
from ledger.records import to_entry
from ledger.store import Ledger
from ledger.tables import summaries_table
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind
from mentorship.commands import ItemStatus, ReviewDecision
from mentorship.events import Recorded
from tests.factories import (
    BIWEEKLY,
    MENTEE,
    MENTOR,
    Journey,
    future,
    log,
    mentee_feedback,
    mentor_feedback,
    request,
)
from tests.factories import review as review_answer

NAME = "read-model"
WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
TARGET_S = 1.0
PROGRAMS = 10
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite

RAW_REPORT = (
    "SELECT program, outcome, count(*), sum(CASE WHEN at_risk THEN 1 ELSE 0 END), "
    "sum(CASE WHEN ever_at_risk THEN 1 ELSE 0 END), sum(meetings_held), sum(meetings_missed), "
    "sum(loops_closed), sum(duration_days), count(duration_days) "
    "FROM ledger_summaries GROUP BY program, outcome"
)
RAW_AT_RISK = (
    "SELECT relationship_id, program, kind, mentor, mentee, phase, next_meeting, at_risk_since "
    "FROM ledger_summaries WHERE at_risk ORDER BY relationship_id LIMIT 200"
)
EVENT_SCAN = "SELECT program, type, count(*) FROM ledger_events GROUP BY program, type"
# Every row the portal's program report is made from, for one program, in plain SQL: what a
# report that fetched them would pay at least (`program_series` counts per day in SQL).
RAW_SERIES = (
    "SELECT relationship_id, type, occurred_at FROM ledger_events WHERE program = 'program-00' "
    "AND type IN ('MeetingLogged', 'MeetingMissed', 'LoopClosed', 'AtRiskRaised', "
    "'AtRiskCleared', 'RelationshipStarted', 'Concluded') "
    "ORDER BY occurred_at, relationship_id, seq"
)


def relationships(quick: bool) -> int:
    return 500 if quick else 10_000


# --------------------------------------------------------------------------- histories


def _answer_what_is_open(j: Journey) -> None:
    loop = j.state.open_loop
    if loop is not None:
        j.do(mentor_feedback(loop.number))
        j.do(mentee_feedback(loop.number))
    opened = j.state.open_review
    if opened is not None:
        for actor in (MENTOR, MENTEE):
            j.do(review_answer(actor, opened.number, ReviewDecision.CONTINUE))
    for item in j.state.open_items():
        j.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.DONE, note="ok"))


def _three_years(cadence: Cadence, silent_after: timedelta | None = None) -> list[Recorded]:
    """Every meeting held and every prompt answered; or, with `silent_after`, nothing more
    answered from then on, so meetings go missed and the pair ends up at risk."""
    j = Journey(request(end_date=future(3 * 365)))
    j.onboard(cadence=cadence)
    quiet_from = j.now + silent_after if silent_after else None
    while not j.state.finished:
        meeting = j.state.next_meeting
        if meeting is None or (quiet_from is not None and j.now >= quiet_from):
            break
        j.advance(meeting.scheduled_at + timedelta(hours=1))
        if not j.state.finished:
            j.do(log(MENTOR, meeting.scheduled_at))
            _answer_what_is_open(j)
    if quiet_from is not None:
        j.advance_by(days=60)
        assert j.state.at_risk, "the silent journey must end at risk"
    return j.history


def templates() -> list[list[Recorded]]:
    """About 600 events a relationship on average, as a program of weekly and fortnightly
    pairs writes in three years: 10,000 of them make some six million rows."""
    weekly = _three_years(WEEKLY)
    return [
        weekly,
        _three_years(BIWEEKLY),
        weekly[: len(weekly) * 2 // 3],
        _three_years(BIWEEKLY, silent_after=timedelta(days=365)),
    ]


@dataclass(frozen=True)
class Template:
    rows: list[dict[str, Any]]  # one relationship's event rows, id "tmpl"
    summary: dict[str, Any]


def _template(history: list[Recorded]) -> Template:
    rows = []
    for recorded in history:
        entry = to_entry(recorded.model_copy(update={"relationship_id": "tmpl"}))
        row = entry.model_dump()
        row["payload"] = canonical_json(entry.payload)
        rows.append(row)
    return Template(rows, projection.summary_row([{**r, "hash": "0" * 64} for r in rows]))


def _copies(template: Template, rid: str, program: str) -> Iterator[dict[str, Any]]:
    recorded_at = datetime(2030, 1, 1, tzinfo=UTC)
    previous = "0" * 64
    for row in template.rows:
        key = event_key(rid, row["seq"])
        digest = hashlib.sha256(key.encode()).hexdigest()
        yield {
            **row,
            "relationship_id": rid,
            "program": program,
            "key": key,
            "prev_hash": previous,
            "hash": digest,
            "recorded_at": recorded_at,
        }
        previous = digest


def _summary_copy(template: Template, rid: str, program: str) -> dict[str, Any]:
    state = template.summary["state"].replace('"id":"tmpl"', f'"id":"{rid}"', 1)
    return {**template.summary, "relationship_id": rid, "program": program, "state": state}


def cohort(count: int) -> Iterator[tuple[Template, str, str]]:
    made = [_template(h) for h in templates()]
    for n in range(count):
        yield made[n % len(made)], f"rel-{n:05d}", f"program-{n % PROGRAMS:02d}"


# --------------------------------------------------------------------------- writing

_COLUMNS = (
    "relationship_id",
    "seq",
    "program",
    "key",
    "type",
    "actor",
    "occurred_at",
    "payload",
    "prev_hash",
    "hash",
    "recorded_at",
)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
    return value


def write_sqlite(path: Path, count: int, advance: Callable[[int], None]) -> tuple[str, int]:
    url = f"sqlite:///{path}"
    Ledger.from_url(url).dispose()
    rows = 0
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA synchronous=OFF")
        marks = ", ".join("?" for _ in _COLUMNS)
        statement = f"INSERT INTO ledger_events ({', '.join(_COLUMNS)}) VALUES ({marks})"
        for template, rid, program in cohort(count):
            batch = [
                tuple(_sqlite_value(r[c]) for c in _COLUMNS)
                for r in _copies(template, rid, program)
            ]
            db.executemany(statement, batch)
            rows += len(batch)
            advance(1)
        db.commit()
    _write_summaries(url, count)
    return url, rows


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"mentorflow_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_postgres(database: str, count: int, advance: Callable[[int], None]) -> tuple[str, int]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    Ledger.from_url(url).dispose()
    rows = 0
    dsn = PG_ADMIN.replace("dbname=postgres", f"dbname={database}")
    with psycopg.connect(dsn) as db, db.cursor() as cursor:
        with cursor.copy(f"COPY ledger_events ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for template, rid, program in cohort(count):
                for row in _copies(template, rid, program):
                    copy.write_row([row[c] for c in _COLUMNS])
                    rows += 1
                advance(1)
        db.commit()
        cursor.execute("ANALYZE")
    _write_summaries(url, count)
    return url, rows


def _write_summaries(url: str, count: int) -> None:
    with Ledger.from_url(url) as ledger, ledger.engine.begin() as conn:
        values = [_summary_copy(t, rid, program) for t, rid, program in cohort(count)]
        for start in range(0, len(values), 1000):
            conn.execute(insert(summaries_table), values[start : start + 1000])


# --------------------------------------------------------------------------- timing


def _raw(ledger: Ledger, statement: str) -> Callable[[], object]:
    def run() -> object:
        with ledger.engine.connect() as conn:
            return conn.execute(text(statement)).all()

    return run


def _command(url: str, args: Sequence[str], repeat: int) -> float:
    env = {
        **os.environ,
        "MENTORFLOW_LEDGER_URL": url,
        "TEMPORAL_ADDRESS": "127.0.0.1:9",  # nothing listens: neither command needs Temporal
        "MENTORFLOW_COMMAND_TIMEOUT": "5",
    }
    command = [str(Path(sys.executable).parent / "mentorflow"), *args]

    def run() -> None:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()[-300:]}")

    return median_seconds(run, repeat)


def _measure(report: Report, backend: str, url: str, repeat: int) -> None:
    with Ledger.from_url(url) as ledger:
        at_risk = summaries.Filters(at_risk=True)
        reads = {
            "report": (lambda: program_reports(ledger.engine), RAW_REPORT),
            "list --at-risk": (lambda: summaries.find(ledger.engine, at_risk, 200), RAW_AT_RISK),
        }
        for name, (ours, raw) in reads.items():
            report.add(
                Row(
                    f"{backend}: `{name}` in process vs plain SQL on the summaries",
                    median_seconds(ours, repeat) * 1000,
                    median_seconds(_raw(ledger, raw), repeat) * 1000,
                    "ms",
                )
            )
        until = datetime(2029, 6, 1, tzinfo=UTC)  # past the end of the three-year journeys
        report.add(
            Row(
                f"{backend}: the portal's program report over time (one program) vs fetching "
                "its rows in plain SQL",
                median_seconds(lambda: program_series(ledger.engine, "program-00", until), repeat)
                * 1000,
                median_seconds(_raw(ledger, RAW_SERIES), repeat) * 1000,
                "ms",
            )
        )
        scan_s = median_seconds(_raw(ledger, EVENT_SCAN), 1)
        report_s = median_seconds(lambda: program_reports(ledger.engine), repeat)
        report.add(
            Row(
                f"{backend}: `report` vs one scan of the events",
                report_s * 1000,
                scan_s * 1000,
                "ms",
            )
        )
    for args in (["report", "--json"], ["list", "--at-risk", "--json"]):
        seconds = _command(url, args, repeat)
        report.add(
            Row(
                f"{backend}: `mentorflow {' '.join(args[:-1])}` command",
                seconds,
                None,
                "s",
                f"< {TARGET_S:g} s",
                seconds < TARGET_S,
            )
        )


async def run(bench: Bench, count: int | None = None) -> Report:
    count = count or relationships(bench.quick)
    repeat = 3 if bench.quick else 5
    report = Report(NAME, f"read model: {count:,} relationships x 3 years, SQLite and PostgreSQL")
    with tempfile.TemporaryDirectory(prefix="bench-read-") as folder:
        with bench.bar("writing the SQLite ledger", count) as advance:
            url, rows = write_sqlite(Path(folder) / "ledger.db", count, advance)
        _measure(report, "SQLite", url, repeat)
    with postgres_database() as database:
        with bench.bar("writing the PostgreSQL ledger", count) as advance:
            url, _ = write_postgres(database, count, advance)
        _measure(report, "PostgreSQL", url, repeat)
    report.notes.append(
        f"{rows:,} ledger rows per backend; median of {repeat} runs; the commands run with the "
        "engine away: they read the ledger alone"
    )
    return report
