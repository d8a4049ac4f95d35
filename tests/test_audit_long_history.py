"""A long history prints one line per event, still complete and in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.audit_speed import relationship
from cli.audit_commands import LONG_HISTORY
from ledger.store import Ledger
from mentorship.narrative import narrate
from tests.audit_journeys import write
from tests.test_audit_history import _use_ledger, mentorflow


def test_a_two_year_history_reads_as_one_line_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = relationship(years=2).history
    assert len(history) > LONG_HISTORY
    path = tmp_path / "ledger.db"
    with Ledger.from_url(f"sqlite:///{path}") as ledger:
        write(ledger, history)
    _use_ledger(monkeypatch, path)

    shown = mentorflow("history", "r1")

    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"r1: {len(history)} events"
    assert lines[-1] == f"events 1..{len(history)}, no gaps; hash chain intact"
    body = [ln for ln in lines[1:-1] if ln[:5].strip().isdigit()]
    assert [int(ln[:5]) for ln in body] == list(range(1, len(history) + 1))
    narrated = narrate(history)
    assert narrated[-1].what in body[-1]
    missed_or_timed = [ln for ln in body if "(why: " in ln]
    assert missed_or_timed, "automatic steps still say why"
