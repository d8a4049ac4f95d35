"""4. Audit speed: history, --as-of and `audit verify` for a 3-year relationship.

The ledger is written straight from the pure domain (tests/factories.py `Journey`: three
years of bi-weekly meetings, feedback loops, reviews and the conclusion, in a second), then
timed through the same functions the CLI calls (ledger/audit.py, the narrative, the
table), against the floor: reading the same rows with the bare sqlite3 driver.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from bench.common import Bench, Report, Row, median_seconds
from ledger import audit
from ledger.records import to_entry
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.commands import ItemStatus, ReviewDecision
from mentorship.narrative import narrate
from mentorship.state import Phase
from tests.factories import (
    MENTEE,
    MENTOR,
    T0,
    Journey,
    log,
    mentee_feedback,
    mentor_feedback,
    reflection,
    request,
    review,
)

NAME = "audit"
TARGET_MS = 300
RELATIONSHIP = "r1"  # the id Journey gives its relationship
_RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)


def _answer_prompts(journey: Journey) -> None:
    s = journey.state
    for loop in s.loops:
        if loop.closed_at is None and loop.mentor_strengths is None:
            journey.do(mentor_feedback(loop.number))
        if loop.closed_at is None and loop.mentee_what_helps is None:
            journey.do(mentee_feedback(loop.number))
    for item in journey.state.open_items():
        journey.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.DONE))
    opened = journey.state.open_review
    if opened is not None:
        journey.do(review(MENTOR, opened.number, ReviewDecision.CONTINUE))
        journey.do(review(MENTEE, opened.number, ReviewDecision.CONTINUE))


def relationship(years: int) -> Journey:
    """A diligent pair over `years`: every meeting held and logged, every prompt answered."""
    journey = Journey(request(end_date=(T0 + timedelta(days=365 * years)).date()))
    journey.onboard()
    while journey.state.phase in _RUNNING:
        meeting = journey.state.next_meeting
        if meeting is None:
            journey.advance_by(days=1)
            continue
        journey.advance(meeting.scheduled_at + timedelta(hours=1))
        if journey.state.phase not in _RUNNING:
            break
        wins = ["Shipped it"] if meeting.number % 5 == 0 else []
        journey.do(
            log(MENTEE, meeting.scheduled_at, notes="Notes", wins=wins, action_items=["Read"])
        )
        _answer_prompts(journey)
    journey.do(reflection(MENTOR))
    journey.do(reflection(MENTEE))
    return journey


def _raw_rows(path: Path) -> Callable[[], object]:
    def read() -> object:
        with sqlite3.connect(path) as conn:
            query = "SELECT * FROM ledger_events WHERE relationship_id = ? ORDER BY seq"
            return conn.execute(query, (RELATIONSHIP,)).fetchall()

    return read


def _history_data(ledger: Ledger) -> object:
    """The work behind `mentorflow history ID` before printing: read, verify, narrate."""
    records = audit.history(ledger, RELATIONSHIP)
    report = audit.verify(ledger, RELATIONSHIP)
    assert report.ok and audit.sequence_gap(records) is None
    return narrate(records)


def _command(*args: str) -> Callable[[], object]:
    """The CLI command itself, in this process, output captured: what an auditor waits for
    (less the interpreter's start-up)."""
    from typer.testing import CliRunner

    from cli.app import app, register_all

    register_all()
    runner = CliRunner()

    def invoke() -> object:
        result = runner.invoke(app, list(args))
        if result.exit_code != 0:
            raise RuntimeError(f"mentorflow {' '.join(args)} failed: {result.output[-500:]}")
        return result.output

    return invoke


@contextmanager
def _cli_reads(path: Path) -> Iterator[None]:
    """Point the CLI's settings (read once from the environment) at the benchmark ledger."""
    from cli import connection

    saved = os.environ.get("MENTORFLOW_LEDGER_URL")
    os.environ["MENTORFLOW_LEDGER_URL"] = f"sqlite:///{path}"
    connection.settings.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MENTORFLOW_LEDGER_URL", None)
        else:
            os.environ["MENTORFLOW_LEDGER_URL"] = saved
        connection.settings.cache_clear()


def run(bench: Bench, years: int = 3) -> Report:
    journey = relationship(years)
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    path = folder / "ledger.db"
    ledger = Ledger.from_url(f"sqlite:///{path}")
    moment = T0 + timedelta(days=365 * years / 2)
    as_of = moment.isoformat()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("`mentorflow history`", _command("history", RELATIONSHIP)),
        ("  of which: read, verify, narrate", lambda: _history_data(ledger)),
        ("`mentorflow history --as-of`", _command("history", RELATIONSHIP, "--as-of", as_of)),
        ("  of which: fold to the date", lambda: audit.state_as_of(ledger, RELATIONSHIP, moment)),
        ("`mentorflow audit verify`", _command("audit", "verify", RELATIONSHIP)),
        ("  of which: hash chain + fold", lambda: audit.verify(ledger, RELATIONSHIP)),
    ]
    repeat = 5 if bench.quick else 15
    timings: dict[str, float] = {}
    try:
        ledger.append([to_entry(r) for r in journey.history])
        raw = median_seconds(_raw_rows(path), repeat)
        with _cli_reads(path), bench.bar("audit: history, --as-of, verify", len(cases)) as advance:
            for label, work in cases:
                timings[label] = median_seconds(work, repeat)
                advance(1)
    finally:
        ledger.dispose()
    title = f"4. Audit speed: a {years}-year relationship, {len(journey.history)} ledger events"
    report = Report(NAME, title)
    for label, seconds in timings.items():
        ms = seconds * 1000
        report.add(
            Row(label, ms, raw * 1000, unit="ms", target=f"< {TARGET_MS}", ok=ms < TARGET_MS)
        )
    report.add(Row("raw rows read (the baseline)", raw * 1000, raw * 1000, unit="ms"))
    report.notes.append(
        f"median of {repeat} after a warm-up; SQLite ledger file; commands run in-process "
        "(typer's CliRunner, output captured, no interpreter start-up); baseline = the same "
        "rows with the bare sqlite3 driver"
    )
    return report
