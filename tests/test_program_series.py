"""A program over time, from the ledger's events: each period's meetings and loops, and how
many relationships were at risk when it ended, checked against the domain's own fold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ledger.outcomes import program_reports, program_series
from ledger.store import Ledger
from ledger.summaries import pair_names, risk_reasons
from mentorship.fold import replay
from tests.audit_journeys import eventful, never_started, write
from tests.factories import T0, Journey
from tests.test_ledger_store import ledger_url as ledger_url  # fixture: SQLite and PostgreSQL
from tests.test_ledger_store import postgres_database as postgres_database  # fixture


def _ledger(url: str, journeys: list[Journey]) -> Ledger:
    ledger = Ledger.from_url(url)
    for journey in journeys:
        write(ledger, journey.history)
    return ledger


def test_each_period_counts_what_happened_in_it_and_the_risk_at_its_end(ledger_url: str) -> None:
    journeys = [eventful("p-1"), eventful("p-2"), never_started("p-3")]
    until = max(j.now for j in journeys) + timedelta(days=3)
    ledger = _ledger(ledger_url, journeys)
    try:
        series = program_series(ledger.engine, "eng-2026", until)
        (report,) = program_reports(ledger.engine, "eng-2026")
    finally:
        ledger.dispose()

    assert series.period == "week"  # eventful runs for about 16 weeks
    assert series.starts[0] == date(2026, 1, 5) and series.starts[-1] <= until.date()
    assert sum(series.meetings_held) == report.meetings_held > 0
    assert sum(series.meetings_missed) == report.meetings_missed > 0
    assert sum(series.loops_closed) == report.loops_closed > 0
    assert max(series.at_risk) > 0, "eventful turns at risk at some point"
    for index, start in enumerate(series.starts):
        end = series.starts[index + 1] if index + 1 < len(series.starts) else None
        assert series.at_risk[index] == _at_risk_at(journeys, end), start
        held = [
            r
            for j in journeys
            for r in j.history
            if r.event.type == "MeetingLogged"
            and r.occurred_at.date() >= start
            and (end is None or r.occurred_at.date() < end)
        ]
        assert series.meetings_held[index] == len(held), start


def _at_risk_at(journeys: list[Journey], end: date | None) -> int:
    """The domain's answer: fold each relationship's events before `end`."""
    count = 0
    for journey in journeys:
        before = [r for r in journey.history if end is None or r.occurred_at.date() < end]
        state = replay(journey.rid, before)
        count += bool(before) and state.at_risk and not state.finished
    return count


def test_a_short_program_is_shown_by_week_from_the_monday_of_its_first_event(
    ledger_url: str,
) -> None:
    journey = Journey(rid="w-1")
    journey.onboard()
    ledger = _ledger(ledger_url, [journey])
    try:
        series = program_series(ledger.engine, "eng-2026", T0 + timedelta(days=20))
    finally:
        ledger.dispose()
    assert series.period == "week"
    assert series.starts[0] == date(2026, 1, 5)  # T0 is a Monday
    assert series.starts == [date(2026, 1, 5) + timedelta(weeks=n) for n in range(3)]
    assert series.meetings_held == [0, 0, 0] and series.at_risk == [0, 0, 0]


def test_a_program_with_no_events_has_one_empty_period(ledger_url: str) -> None:
    ledger = _ledger(ledger_url, [])
    try:
        series = program_series(ledger.engine, "nobody", datetime(2026, 3, 4, tzinfo=UTC))
    finally:
        ledger.dispose()
    assert series.starts == [date(2026, 3, 2)] and series.meetings_held == [0]


def test_a_long_program_is_shown_by_month(ledger_url: str) -> None:
    ledger = _ledger(ledger_url, [eventful("m-1")])
    try:
        series = program_series(ledger.engine, "eng-2026", T0 + timedelta(days=400))
    finally:
        ledger.dispose()
    assert series.period == "month"
    assert series.starts[:3] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert len(series.starts) == 14 and series.starts[-1] == date(2027, 2, 1)
    assert series.at_risk[-1] == 0  # it concluded


def test_pair_names_come_from_each_first_event(ledger_url: str) -> None:
    journeys = [eventful(f"n-{n}") for n in range(3)]
    ledger = _ledger(ledger_url, journeys)
    try:
        names = pair_names(ledger.engine, ["n-0", "n-2", "missing"])
    finally:
        ledger.dispose()
    assert names == {"n-0": ("Alice Mentor", "Bob Mentee"), "n-2": ("Alice Mentor", "Bob Mentee")}


def test_risk_reasons_are_the_folds_wherever_a_pair_is_at_risk(ledger_url: str) -> None:
    """One pair cut short after each of its risk events: the ledger's answer is the fold's."""
    full = eventful("full").history
    marks = [r.seq for r in full if r.event.type in ("AtRiskRaised", "AtRiskCleared")]
    assert len(marks) >= 3
    cuts = {
        f"r-{seq}": [
            r.model_copy(update={"relationship_id": f"r-{seq}"}) for r in full if r.seq <= seq
        ]
        for seq in marks
    }
    ledger = Ledger.from_url(ledger_url)
    try:
        for history in cuts.values():
            write(ledger, history)
        write(ledger, never_started("calm").history)
        reasons = risk_reasons(ledger.engine, [*cuts, "calm", "missing"])
    finally:
        ledger.dispose()
    at_risk = 0
    for rid, history in cuts.items():
        state = replay(rid, history)
        if state.at_risk:
            at_risk += 1
            assert reasons[rid] == state.risk_reasons, rid
    assert at_risk >= 2 and "calm" not in reasons and "missing" not in reasons
