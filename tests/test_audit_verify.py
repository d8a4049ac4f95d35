"""`mentorflow audit verify`: any edit to a stored event is found, and the event is named."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import cli.audit_commands  # noqa: F401 registers `history` and `audit` on the app
from cli.app import app
from cli.connection import settings
from ledger import audit
from ledger.records import to_entry
from ledger.store import Ledger, LedgerEntry, chain_hash
from mentorship import events as ev
from tests.audit_journeys import eventful, never_started, write

Tamper = Callable[[sqlite3.Connection], None]


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A ledger with two relationships: r1 went through everything, r2 never started."""
    path = tmp_path / "ledger.db"
    with Ledger.from_url(f"sqlite:///{path}") as ledger:
        write(ledger, eventful().history)
        r2 = [r.model_copy(update={"relationship_id": "r2"}) for r in never_started().history]
        write(ledger, r2)
    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", f"sqlite:///{path}")
    settings.cache_clear()
    yield path
    settings.cache_clear()


def mentorflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _sql(path: Path, tamper: Tamper) -> None:
    with sqlite3.connect(path) as conn:
        tamper(conn)


def _edit_win(conn: sqlite3.Connection) -> None:
    conn.execute(
        "UPDATE ledger_events SET payload = replace(payload, 'Ran the design review', "
        "'Skipped the design review') WHERE relationship_id = 'r1' AND seq = 14"
    )


def _swap_20_and_21(conn: sqlite3.Connection) -> None:
    for old, new in ((20, -20), (21, 20), (-20, 21)):
        conn.execute(
            "UPDATE ledger_events SET seq = ? WHERE relationship_id = 'r1' AND seq = ?", (new, old)
        )


def _delete_30(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM ledger_events WHERE relationship_id = 'r1' AND seq = 30")


def _edit_win_and_rehash(conn: sqlite3.Connection) -> None:
    """A careful forger fixes the edited row's own hash; the next event still gives it away."""
    _edit_win(conn)
    columns = "relationship_id, program, seq, key, type, actor, occurred_at, payload, prev_hash"
    row = conn.execute(
        f"SELECT {columns} FROM ledger_events WHERE relationship_id = 'r1' AND seq = 14"
    ).fetchone()
    forged = LedgerEntry(
        **dict(zip(columns.split(", ")[:6], row[:6], strict=True)),
        occurred_at=datetime.fromisoformat(row[6]).replace(tzinfo=UTC),
        payload=json.loads(row[7]),
    )
    conn.execute(
        "UPDATE ledger_events SET hash = ? WHERE relationship_id = 'r1' AND seq = 14",
        (chain_hash(row[8], forged),),
    )


TAMPERING = {
    "payload changed": (
        _edit_win,
        "altered",
        "event 14 (r1:000014) was altered: its hash does not match its content",
    ),
    "order swapped": (
        _swap_20_and_21,
        "altered",
        "event 20 (r1:000021) does not link to event 19 (r1:000019): events were removed, "
        "reordered or rewritten",
    ),
    "event deleted": (
        _delete_30,
        "missing",
        "event 30 is missing: the chain jumps from event 29 (r1:000029) to event 31 (r1:000031)",
    ),
    "payload changed and rehashed": (
        _edit_win_and_rehash,
        "altered",
        "event 15 (r1:000015) does not link to event 14 (r1:000014): events were removed, "
        "reordered or rewritten",
    ),
}


def test_an_untouched_ledger_verifies_for_one_and_for_all(ledger_file: Path) -> None:
    one = mentorflow("audit", "verify", "r1")
    assert one.exit_code == 0, one.output
    assert "r1" in one.stdout and "intact" in one.stdout
    assert "seals not checked: no ledger keys here" in one.stderr, "says what it cannot prove"
    every = mentorflow("audit", "verify", "--all", "--json")
    assert every.exit_code == 0, every.output
    reports = json.loads(every.stdout)["relationships"]
    assert [(r["relationship_id"], r["ok"], r["checked"]) for r in reports] == [
        ("r1", True, len(eventful().history)),
        ("r2", True, len(never_started().history)),
    ]


@pytest.mark.parametrize("case", TAMPERING, ids=list(TAMPERING))
def test_tampering_with_one_event_is_detected_and_the_event_named(
    ledger_file: Path, case: str
) -> None:
    tamper, verdict, finding = TAMPERING[case]
    _sql(ledger_file, tamper)
    code = {"altered": 6, "missing": 7}[verdict]

    one = mentorflow("audit", "verify", "r1")
    assert one.exit_code == code
    assert one.stderr.strip().splitlines()[-1] == f"error: {verdict}: r1: {finding}"

    every = mentorflow("audit", "verify", "--all", "--json")
    assert every.exit_code == code
    by_id = {r["relationship_id"]: r for r in json.loads(every.stdout)["relationships"]}
    assert by_id["r2"]["ok"] is True, "the other relationship is untouched"
    assert by_id["r1"]["ok"] is False and by_id["r1"]["problem"]["reason"] == finding
    assert f"{verdict}: r1: {finding}" in every.stderr

    shown = mentorflow("history", "r1", "--format", "csv")
    assert shown.exit_code == 1, "history says when it cannot be trusted"
    assert "is not intact" in shown.stderr and "audit verify r1" in shown.stderr
    folded = mentorflow("history", "r1", "--as-of", "2026-01-10", "--json")
    assert folded.exit_code == 1, "a state folded from a damaged ledger says so"
    assert f"not intact: {finding}" in folded.stderr


def test_events_that_hash_correctly_but_cannot_happen_are_named(tmp_path: Path) -> None:
    """A ledger written by a faulty version: the chain is fine, the story is not."""
    history = eventful().history[:8]
    impossible = history[7].model_copy(
        update={"seq": 9, "event": ev.MeetingMissed(number=7, scheduled_at=history[7].occurred_at)}
    )
    with Ledger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ledger.append([to_entry(r) for r in [*history, impossible]])
        report = audit.verify(ledger, "r1")
    assert not report.ok and report.checked == 8
    assert report.problem is not None and report.problem.key == "r1:000009"
    assert "does not fold into the state before it: relationship r1 has no meeting 7" in (
        report.problem.reason
    )


def test_an_unknown_relationship_or_a_missing_ledger_is_a_one_line_error(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    unknown = mentorflow("audit", "verify", "nobody")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == (
        "error: the ledger has no events for 'nobody'; check the id "
        "(`mentorflow list` or `mentorflow audit verify --all`)"
    )
    neither = mentorflow("audit", "verify")
    assert neither.exit_code == 1 and "give a relationship id or --all" in neither.stderr

    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    settings.cache_clear()
    missing = mentorflow("audit", "verify", "--all")
    assert missing.exit_code == 1
    assert f"no ledger at {tmp_path / 'elsewhere.db'}" in missing.stderr
    assert not (tmp_path / "elsewhere.db").exists(), "auditing never creates an empty ledger"
