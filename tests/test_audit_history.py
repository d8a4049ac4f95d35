"""`mentorflow history`: the timeline across every run, and the state on any past date."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

import cli.audit_commands  # noqa: F401 registers `history` and `audit` on the app
from cli.app import app
from cli.connection import settings as cli_settings
from client.relationships import handle as relationship_handle
from client.relationships import start_relationship
from ledger import audit
from ledger.store import GENESIS_HASH, Ledger, LedgerEntry, chain_hash
from mentorship import commands as c
from mentorship.commands import ReviewDecision
from mentorship.events import Outcome
from mentorship.fold import replay
from mentorship.narrative import narrate
from mentorship.state import RelationshipState
from tests.audit_journeys import eventful, write
from tests.factories import (
    MENTEE,
    MENTOR,
    commitment,
    goals,
    log,
    reflection,
    request,
    review,
    terms,
)
from tests.lifecycle import Lifecycle, Pair
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings
from worker.temporal import data_converter
from workflows.contract import UpdateResult


def mentorflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


async def mentorflow_beside_the_worker(*args: str) -> Result:
    """Commands that ask Temporal run their own event loop, as they do from a shell."""
    return await asyncio.to_thread(mentorflow, *args)


def _use_ledger(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", f"sqlite:///{path}")
    cli_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    cli_settings.cache_clear()
    yield
    cli_settings.cache_clear()


class Snapshots:
    """What `status` said, and when: the auditor's fold must say the same about that moment."""

    def __init__(self, pair: Pair, life: Lifecycle) -> None:
        self.pair, self.life = pair, life
        self.taken: list[tuple[datetime, RelationshipState]] = []

    async def take(self) -> None:
        view = await self.pair.status()
        self.taken.append((await self.life.now(), view.state))
        # Keep whatever happens next strictly after the moment just captured.
        await self.life.sleep(timedelta(seconds=1))


async def _onboard(pair: Pair, first: datetime) -> None:
    await pair.do(goals())
    await pair.do(commitment())
    await pair.do(c.ConfirmAgreement(actor=MENTEE, terms=terms(first)))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))


async def _review_and_continue(pair: Pair) -> None:
    """Both answer `continue`; the workflow then continues as new (Pair.do waits for it)."""
    await pair.do(c.RequestReview(actor=MENTEE, reason="Check we are on the right track"))
    number = (await pair.status()).state.reviews[-1].number
    await pair.do(review(MENTOR, number, ReviewDecision.CONTINUE))
    await pair.do(review(MENTEE, number, ReviewDecision.CONTINUE))


async def test_state_as_of_any_date_matches_the_status_query_at_that_date(
    lifecycle: Lifecycle,
) -> None:
    start = await lifecycle.now()
    pair = await lifecycle.start(request())
    seen = Snapshots(pair, lifecycle)
    await seen.take()  # onboarding

    first = start + timedelta(days=7)
    await _onboard(pair, first)
    await seen.take()  # active, meeting 1 scheduled

    await lifecycle.sleep_until(first + timedelta(hours=1))
    await pair.do(log(MENTEE, first, wins=["Ran the design review"], action_items=["Read RFC"]))
    await seen.take()  # meeting 1 held

    second = (await pair.status()).state.next_meeting
    assert second is not None
    await lifecycle.sleep_until(second.scheduled_at + timedelta(days=3, hours=2))
    await seen.take()  # meeting 2 counted as missed by the grace timer

    await _review_and_continue(pair)
    assert (await pair.status()).run == 2
    await seen.take()  # review decided, in the second run

    await pair.do(c.Conclude(actor=MENTOR, reason="Goals reached early"))
    await seen.take()  # concluding
    await pair.do(reflection(MENTOR))
    await pair.do(reflection(MENTEE))
    assert (await pair.result()).outcome is Outcome.CONCLUDED_EARLY
    await seen.take()  # concluded

    phases = [state.phase.value for _, state in seen.taken]
    running = ["active"] * 4
    assert phases == ["onboarding", *running, "concluding", "concluded"]
    assert seen.taken[3][1].meetings_missed == 1
    for moment, state in seen.taken:
        assert audit.state_as_of(lifecycle.ledger, pair.id, moment) == state, moment
    with pytest.raises(LookupError, match="had not started by"):
        audit.state_as_of(lifecycle.ledger, pair.id, start - timedelta(days=1))

    # One history across both runs: seq 1..N, nothing lost or doubled at continue-as-new.
    records = audit.history(lifecycle.ledger, pair.id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert audit.sequence_gap(records) is None
    kinds = [r.event.type for r in records]
    decided = kinds.index("ReviewDecided")
    assert 0 < decided < len(kinds) - 1, "events from both runs are in the ledger"
    assert kinds[-1] == "Concluded" and records[-1].seq == seen.taken[-1][1].seq
    assert replay(pair.id, records) == seen.taken[-1][1]


def test_sequence_gaps_and_repeats_are_named() -> None:
    history = eventful().history
    assert audit.sequence_gap(history) is None
    assert audit.sequence_gap([*history[:4], *history[6:]]) == (
        "events 5 to 6 are missing: the history jumps to event 7"
    )
    assert audit.sequence_gap([*history[:4], history[3], *history[4:]]) == (
        "event 4 appears twice (after event 4)"
    )


@pytest.fixture
def journey_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    with Ledger.from_url(f"sqlite:///{path}") as ledger:
        write(ledger, eventful().history)
    _use_ledger(monkeypatch, path)
    return path


def test_history_reads_the_ledger_as_a_table_json_or_csv(journey_ledger: Path) -> None:
    history = eventful().history
    sentences = [line.sentence for line in narrate(history)]

    shown = mentorflow("history", "r1")
    assert shown.exit_code == 0, shown.output
    assert f"events 1..{len(history)}, no gaps; hash chain intact" in shown.stdout
    assert f"│ {len(history)} " in shown.stdout and "lifecycle" in shown.stdout

    as_json = mentorflow("history", "r1", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["intact"] is True and data["problem"] is None
    assert [e["seq"] for e in data["events"]] == list(range(1, len(history) + 1))
    assert [e["sentence"] for e in data["events"]] == sentences
    assert data["events"][35]["type"] == "MeetingMissed"
    assert data["events"][35]["actor"] == "system:system"
    assert data["events"][35]["cause"] == "meeting 4 counted as missed: not logged within 3 days"
    assert data["events"][35]["event"]["number"] == 4

    as_csv = mentorflow("history", "r1", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["sentence"] for r in rows] == sentences
    assert rows[13]["actor"] == "mentee:bob" and rows[13]["type"] == "MeetingLogged"
    assert rows[0]["key"] == "r1:000001"


def test_history_as_of_a_date_shows_the_state_folded_up_to_then(journey_ledger: Path) -> None:
    history = eventful().history
    end_of_day = datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)
    expected = replay("r1", [r for r in history if r.occurred_at <= end_of_day])

    as_json = mentorflow("history", "r1", "--as-of", "2026-03-02", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert RelationshipState.model_validate(data["state"]) == expected
    assert expected.meetings_missed == 1 and expected.phase.value == "under_review"

    noon = mentorflow("history", "r1", "--as-of", "2026-01-16T11:30:00+01:00", "--format", "csv")
    assert noon.exit_code == 0, noon.output
    fields = dict(csv.reader(io.StringIO(noon.stdout)))
    assert fields["meetings"] == "1 held, 0 missed"
    # meeting 1 was moved to a Friday; meeting 2 is back on the agreed Thursday
    assert fields["next meeting"] == "2 at 2026-01-29 09:00 UTC"
    assert fields["events folded"] == "15"

    table = mentorflow("history", "r1", "--as-of", "2026-03-02")
    assert table.exit_code == 0 and "under_review" in table.stdout


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2025-12-31", "error: relationship r1 had not started by 2025-12-31T23:59:59.999999"),
        ("2026-03-02T10:00", "error: --as-of: '2026-03-02T10:00' has no time zone; add one"),
        ("next tuesday", "error: --as-of: 'next tuesday' is not a date or time"),
    ],
)
def test_history_as_of_explains_a_date_it_cannot_use(
    journey_ledger: Path, as_of: str, message: str
) -> None:
    result = mentorflow("history", "r1", "--as-of", as_of)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)


async def test_execution_history_and_diff_against_the_server(
    lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", lifecycle.env.client.service_client.config.target_host)
    monkeypatch.setenv("MENTORFLOW_TASK_QUEUE", lifecycle.settings.task_queue)
    ledger_path = Path(lifecycle.settings.resolved_ledger_url.removeprefix("sqlite:///"))
    _use_ledger(monkeypatch, ledger_path)
    start = await lifecycle.now()
    pair = await lifecycle.start(request())
    await _onboard(pair, start + timedelta(days=7))
    await _review_and_continue(pair)
    moved = start + timedelta(days=8)
    await pair.do(
        c.RescheduleMeeting(actor=MENTOR, meeting_number=1, new_time=moved, reason="Offsite")
    )

    run = await mentorflow_beside_the_worker("history", pair.id, "--execution", "--json")
    assert run.exit_code == 0, run.output
    events = json.loads(run.stdout)
    started = events[0]
    assert started["type"] == "WorkflowExecutionStarted"
    carried = started["details"]["input"][0]
    assert carried["run"] == 2 and carried["relationship_id"] == pair.id
    assert carried["state"]["reviews"][0]["decision"] == "continue", "decoded, not base64"
    accepted = [e for e in events if e["type"] == "WorkflowExecutionUpdateAccepted"]
    request_ = accepted[-1]["details"]["accepted_request"]
    assert request_["input"]["name"] == "reschedule_meeting"
    assert request_["input"]["args"][0]["reason"] == "Offsite"
    shown = await mentorflow_beside_the_worker("history", pair.id, "--execution")
    assert shown.exit_code == 0 and "WorkflowExecutionStarted" in shown.stdout

    agree = await mentorflow_beside_the_worker("audit", "diff", pair.id)
    assert agree.exit_code == 0, agree.output
    assert "agree" in agree.stdout
    every = await mentorflow_beside_the_worker("audit", "diff", "--all", "--json")
    assert every.exit_code == 0, every.output
    [only] = json.loads(every.stdout)
    assert only["relationship_id"] == pair.id and only["agree"] is True
    assert only["live_seq"] == only["ledger_seq"] == len(pair.ledger())

    with sqlite3.connect(ledger_path) as conn:
        conn.execute(
            "UPDATE ledger_events SET payload = replace(payload, 'Lead a design review', "
            "'Lead a team') WHERE type = 'GoalsSubmitted'"
        )
    differ = await mentorflow_beside_the_worker("audit", "diff", pair.id)
    assert differ.exit_code == 1
    assert differ.stderr.strip() == (
        f"error: {pair.id}: live state and ledger disagree: they differ in goals"
    )


def test_a_program_export_carries_sentences_and_checkable_hashes(
    journey_ledger: Path, tmp_path: Path
) -> None:
    history = eventful().history
    target = tmp_path / "eng-2026.jsonl"
    written = mentorflow("audit", "export", "--program", "eng-2026", "--output", str(target))
    assert written.exit_code == 0, written.output
    assert f"wrote {len(history)} events of 1 relationships in eng-2026" in written.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, len(history) + 1))
    assert [r["sentence"] for r in rows] == [ln.sentence for ln in narrate(history)]
    previous = GENESIS_HASH
    for row in rows:
        entry = LedgerEntry(
            **{k: row[k] for k in ("relationship_id", "program", "seq", "key", "type", "actor")},
            occurred_at=row["occurred_at"],
            payload={"cause": row["cause"], "event": row["event"]},
        )
        assert row["prev_hash"] == previous
        assert chain_hash(previous, entry) == row["hash"], f"row {row['seq']} verifies offline"
        previous = row["hash"]

    as_csv = mentorflow("audit", "export", "-p", "eng-2026", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["hash"] for r in table] == [r["hash"] for r in rows]
    assert json.loads(table[35]["event"])["type"] == "MeetingMissed"

    unknown = mentorflow("audit", "export", "--program", "sales")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == (
        "error: the ledger has no events for program 'sales'; programs: eng-2026"
    )


async def test_execution_history_opens_encrypted_payloads_with_the_configured_keys(
    time_env: WorkflowEnvironment, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "audit-k1:" + base64.b64encode(bytes(range(32))).decode()
    sealed = settings.model_copy(update={"codec_keys": SecretStr(key)})
    encrypting = Client(
        time_env.client.service_client,
        namespace=time_env.client.namespace,
        data_converter=data_converter(sealed),
    )
    with Ledger.from_url(sealed.resolved_ledger_url) as ledger:
        async with build_worker(encrypting, sealed, lifecycle_activities(sealed, ledger)):
            started = await start_relationship(
                encrypting, request(), sealed.task_queue, await time_env.get_current_time()
            )
            await relationship_handle(encrypting, started.relationship_id).execute_update(
                "submit_goals", goals(), result_type=UpdateResult
            )
    # Ended here: on the shared time-skipping server an open workflow without its worker
    # would hold the clock for every test after this one.
    await time_env.client.get_workflow_handle(started.relationship_id).terminate("test over")
    raw = await time_env.client.get_workflow_handle(started.relationship_id).fetch_history()
    stored = raw.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert stored.metadata["encoding"] == b"binary/encrypted", "Temporal holds ciphertext"

    monkeypatch.setenv("TEMPORAL_ADDRESS", time_env.client.service_client.config.target_host)
    monkeypatch.setenv("MENTORFLOW_CODEC_KEYS", key)
    opened = await mentorflow_beside_the_worker(
        "history", started.relationship_id, "--execution", "--json"
    )
    assert opened.exit_code == 0, opened.output
    events = json.loads(opened.stdout)
    carried = events[0]["details"]["input"][0]
    assert carried["request"]["mentee"]["email"] == "bob@example.org"
    [accepted] = [e for e in events if e["type"] == "WorkflowExecutionUpdateAccepted"]
    goals_sent = accepted["details"]["accepted_request"]["input"]["args"][0]
    assert goals_sent["objectives"] == goals().objectives

    monkeypatch.delenv("MENTORFLOW_CODEC_KEYS")
    cli_settings.cache_clear()
    sealed_off = await mentorflow_beside_the_worker(
        "history", started.relationship_id, "--execution", "--json"
    )
    assert sealed_off.exit_code == 0, "an engineer without the keys still sees the run's shape"
    unreadable = json.loads(sealed_off.stdout)[0]["details"]["input"][0]
    assert unreadable.startswith("<undecodable binary/encrypted payload")
    assert "bob@example.org" not in sealed_off.stdout
