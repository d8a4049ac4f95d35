"""The summary read model: advanced by every append, equal to a rebuild from the events."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from ledger import projection, summaries
from ledger.outcomes import program_reports
from ledger.records import to_entry
from ledger.store import IntegrityConflict, Ledger, LedgerEntry
from mentorship.events import AtRiskRaised, Recorded
from mentorship.fold import replay
from tests.audit_journeys import eventful, never_started
from tests.factories import BIWEEKLY, MENTEE, Journey, log, request
from tests.test_ledger_store import entry, sql
from tests.test_ledger_store import ledger as ledger  # fixture: SQLite and PostgreSQL
from tests.test_ledger_store import ledger_url as ledger_url  # fixture
from tests.test_ledger_store import postgres_database as postgres_database  # fixture


def as_relationship(history: list[Recorded], rid: str, program: str) -> list[Recorded]:
    return [r.model_copy(update={"relationship_id": rid, "program": program}) for r in history]


def at_risk_journey() -> Journey:
    """Onboarded, then silent: meetings go missed until the pair is at risk, and stays open."""
    j = Journey(request(policy={"missed_in_a_row_for_risk": 2}))
    j.onboard(cadence=BIWEEKLY)
    j.advance_by(days=50)
    assert j.state.at_risk and not j.state.finished
    return j


def cohort() -> dict[str, list[Recorded]]:
    """Six relationships in two programs: concluded, never started, at risk and open."""
    journeys = {"eventful": eventful(), "silent": never_started(), "risky": at_risk_journey()}
    out: dict[str, list[Recorded]] = {}
    for program in ("spring", "autumn"):
        for name, journey in journeys.items():
            rid = f"{program}-{name}"
            out[rid] = as_relationship(journey.history, rid, program)
    return out


def append_in_random_batches(ledger: Ledger, histories: dict[str, list[Recorded]]) -> None:
    """Interleaved across relationships, batches of 1-9 events, some sent twice (retries)."""
    rng = random.Random(7)
    pending = {rid: [to_entry(r) for r in h] for rid, h in histories.items()}
    while pending:
        rid = rng.choice(sorted(pending))
        size = rng.randint(1, 9)
        batch, pending[rid] = pending[rid][:size], pending[rid][size:]
        ledger.append(batch)
        if rng.random() < 0.2:
            ledger.append(batch)
        if not pending[rid]:
            del pending[rid]


def test_the_incremental_summaries_equal_a_rebuild_from_the_events(ledger: Ledger) -> None:
    histories = cohort()
    append_in_random_batches(ledger, histories)
    incremental = summaries.everything(ledger.engine)
    assert [row["relationship_id"] for row in incremental] == sorted(histories)

    assert ledger.rebuild_summaries() == len(histories)
    assert summaries.everything(ledger.engine) == incremental
    with ledger.engine.begin() as conn:  # the migration's own rebuild, on one connection
        assert projection.rebuild_all(conn) == len(histories)
    assert summaries.everything(ledger.engine) == incremental


def test_a_summary_says_what_the_fold_of_its_events_says(ledger: Ledger) -> None:
    histories = cohort()
    append_in_random_batches(ledger, histories)
    found = summaries.summaries(ledger.engine, list(histories))
    for rid, history in histories.items():
        state, got = replay(rid, history), found[rid]
        assert (got.phase, got.outcome) == (
            state.phase.value,
            state.outcome.value if state.outcome else None,
        )
        assert (got.meetings_held, got.meetings_missed, got.loops_closed) == (
            state.meetings_held,
            state.meetings_missed,
            state.loops_closed,
        )
        assert (got.last_seq, got.last_type) == (history[-1].seq, history[-1].event.type)
        assert got.last_hash == ledger.heads([rid])[rid].hash
        assert got.ever_at_risk == any(isinstance(r.event, AtRiskRaised) for r in history)
        assert got.problem is None
    risky = found["spring-risky"]
    raised = [r for r in histories["spring-risky"] if isinstance(r.event, AtRiskRaised)]
    assert risky.at_risk and risky.at_risk_since == raised[-1].occurred_at
    assert risky.next_meeting is not None
    concluded = found["spring-eventful"]
    assert not concluded.at_risk and concluded.ever_at_risk and concluded.next_meeting is None
    assert concluded.duration_days is not None and concluded.duration_days > 100


def test_a_pair_that_recovers_is_no_longer_at_risk_and_forgets_since_when(
    ledger: Ledger,
) -> None:
    j = at_risk_journey()
    meeting = j.state.next_meeting
    assert meeting is not None
    j.advance(meeting.scheduled_at + timedelta(hours=1))
    j.do(log(MENTEE, meeting.scheduled_at))
    assert not j.state.at_risk
    ledger.append([to_entry(r) for r in j.history])
    got = summaries.summaries(ledger.engine, ["r1"])["r1"]
    assert not got.at_risk and got.at_risk_since is None and got.ever_at_risk


def test_filters_select_in_the_database(ledger: Ledger) -> None:
    append_in_random_batches(ledger, cohort())

    def ids(**wanted: object) -> list[str]:
        found = summaries.find(ledger.engine, summaries.Filters(**wanted))  # type: ignore[arg-type]
        return [s.relationship_id for s in found]

    assert ids(at_risk=True) == ["autumn-risky", "spring-risky"]
    assert ids(program="spring", open_only=True) == ["spring-risky"]
    assert ids(phase="concluded", program="autumn") == ["autumn-eventful", "autumn-silent"]
    assert ids(mentor="alice", program="spring") == sorted(
        ["spring-eventful", "spring-risky", "spring-silent"]
    )
    assert len(summaries.find(ledger.engine, summaries.Filters(), limit=4)) == 4


def test_program_reports_count_what_the_folds_count(ledger: Ledger) -> None:
    histories = cohort()
    append_in_random_batches(ledger, histories)
    reports = {r.program: r for r in program_reports(ledger.engine)}
    assert sorted(reports) == ["autumn", "spring"]
    for program, report in reports.items():
        states = [replay(rid, h) for rid, h in histories.items() if rid.startswith(program)]
        assert report.relationships == 3
        assert report.by_outcome["concluded_early"] == 1
        assert report.by_outcome["not_started"] == 1
        assert report.by_outcome["in_progress"] == 1
        assert report.at_risk_now == 1
        assert report.meetings_held == sum(s.meetings_held for s in states)
        assert report.meetings_missed == sum(s.meetings_missed for s in states)
        assert report.loops_closed == sum(s.loops_closed for s in states)
        days = [d for s in states if (d := projection.duration_days(s)) is not None]
        assert report.average_duration_days == round(sum(days) / len(days), 1)
    assert [r.program for r in program_reports(ledger.engine, "spring")] == ["spring"]


def test_an_event_the_fold_cannot_take_stops_the_summary_without_blocking_the_append(
    ledger: Ledger,
) -> None:
    history = [to_entry(r) for r in never_started().history]
    ledger.append(history[:3])
    alien = LedgerEntry.model_validate(
        {**entry("r1", 4).model_dump(), "program": history[0].program, "type": "FromTheFuture"}
    )
    assert ledger.append([alien]) == 1  # recorded: the ledger keeps what it is given
    got = summaries.summaries(ledger.engine, ["r1"])["r1"]
    assert got.last_seq == 3 and got.last_type == history[2].type
    assert got.problem is not None and "event 4 (FromTheFuture)" in got.problem

    ledger.rebuild_summaries()
    rebuilt = summaries.summaries(ledger.engine, ["r1"])["r1"]
    assert rebuilt == got
    problems = summaries.find(ledger.engine, summaries.Filters(with_problem=True))
    assert [p.relationship_id for p in problems] == ["r1"]


def test_a_summary_lost_or_behind_is_refolded_on_the_next_append(ledger: Ledger) -> None:
    history = [to_entry(r) for r in eventful().history]
    ledger.append(history[:20])
    sql(ledger, "DELETE FROM ledger_summaries")
    ledger.append(history[20:30])
    assert summaries.summaries(ledger.engine, ["r1"])["r1"].last_seq == 30
    sql(ledger, "UPDATE ledger_summaries SET last_seq = 25")
    ledger.append(history[30:])
    got = summaries.summaries(ledger.engine, ["r1"])["r1"]
    assert got.last_seq == len(history) and got.phase == "concluded"
    expected = summaries.everything(ledger.engine)
    ledger.rebuild_summaries()
    assert summaries.everything(ledger.engine) == expected


def test_a_refused_append_marks_the_relationship_blocked_until_an_append_succeeds(
    ledger: Ledger,
) -> None:
    history = [to_entry(r) for r in eventful().history]
    ledger.append(history[:10])
    with pytest.raises(IntegrityConflict, match="event 11 of that relationship is not in"):
        ledger.append(history[11:13])  # event 11 never arrived
    [refusal] = ledger.refusals().values()
    assert refusal.relationship_id == "r1" and "event 11" in refusal.reason
    [blocked] = summaries.find(ledger.engine, summaries.Filters(blocked=True))
    assert blocked.blocked_since == refusal.since and blocked.last_seq == 10

    with pytest.raises(IntegrityConflict):
        ledger.append(history[11:13])
    assert ledger.refusals()["r1"].since == refusal.since, "blocked since the first refusal"

    ledger.append(history[10:13])  # the repair: the missing event, then the rest
    assert ledger.refusals() == {}
    [unblocked] = summaries.find(ledger.engine, summaries.Filters())
    assert unblocked.blocked_since is None and unblocked.last_seq == 13


def test_a_relationship_refused_at_its_first_event_is_still_listed_as_blocked(
    ledger: Ledger,
) -> None:
    orphan = to_entry(eventful().history[1])  # event 2, whose predecessor never arrived
    with pytest.raises(IntegrityConflict):
        ledger.append([orphan])
    assert summaries.find(ledger.engine, summaries.Filters()) == []
    [refused] = summaries.refused_unsummarised(ledger.engine, program=orphan.program)
    assert refused["relationship_id"] == "r1"
    assert summaries.refused_unsummarised(ledger.engine, program="elsewhere") == []
