"""The ledger breaks, the lifecycle does not freeze.

A transient outage (the database unreachable) is waited out: updates answer "applied,
recording pending", timers keep deciding, events queue in order, and once the database is back
each queued event is appended once, in order, and each notification is delivered once. An
integrity conflict (a row someone deleted, an id whose ledger already holds another
relationship's events) cannot be retried away: the relationship shows "ledger blocked" in its
status, its search attribute and the operator's inbox, refuses updates until an operator
repairs the cause, and then carries on.

Real parts only: `temporal server start-dev` and `python -m worker` from tests/fault_rig.py,
and for the outage a private PostgreSQL cluster (tests/ledger_outage_rig.py) the test stops
and starts without touching the shared one on 127.0.0.1:5432.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import OperationalError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from client.relationships import act, handle, status
from client.waits import within
from ledger import audit
from ledger.records import to_entry
from ledger.store import Ledger, LedgerEntry, deliveries_table, event_key, events_table
from mentorship import commands as c
from mentorship.decisions import decide, start
from mentorship.events import Outcome, ReminderSent
from mentorship.participants import Channel
from mentorship.policy import Policy
from tests.factories import commitment, goals, request
from tests.fault_rig import (
    WAIT,
    DevServer,
    delivered,
    describe,
    eventually,
    quiet,
    worker_env,
    workers,
)
from tests.ledger_outage_rig import PrivatePostgres
from tests.test_faults import FAST, Cast, outbox_lines, program
from workflows import search_attributes as sa
from workflows.contract import (
    RECORDING_WAIT_SECONDS,
    REPAIR_LEDGER,
    RelationshipResult,
    RepairLedger,
    StatusView,
    UpdateResult,
)

T = TypeVar("T")
# An update that has not answered in this long hangs; the contract is "about
# RECORDING_WAIT_SECONDS", so this only turns a hang into a clear failure, it times nothing.
HANG = 6 * RECORDING_WAIT_SECONDS
# After the outage the ledger activity's next retry may be a backoff interval away.
RECOVERY = 240.0
# Each reminder purpose and the notification kind it sends (mentorship/timers.py, meetings.py).
REMINDER_KINDS = {
    "onboarding": "onboarding_reminder",
    "meeting prep": "meeting_prep",
    "meeting reminder": "meeting_reminder",
}


# ------------------------------------------------------------------------- the outage


@pytest.mark.postgres
def test_the_private_postgres_goes_down_and_comes_back_on_its_port() -> None:
    """The rig itself, and what the worker relies on: one engine reconnects by itself."""
    entry = _entry("rig.mentee.mentor", 1)
    with PrivatePostgres.running() as pg, Ledger.from_url(pg.url) as ledger:
        assert ledger.append([entry]) == 1
        pg.stop()
        with pytest.raises(OperationalError):
            ledger.last_seq(entry.relationship_id)
        pg.start()
        assert ledger.last_seq(entry.relationship_id) == 1
        assert pg.stops == 1
    assert not pg.folder.exists(), "the cluster's folder is removed afterwards"


def _entry(relationship_id: str, seq: int) -> LedgerEntry:
    return LedgerEntry(
        relationship_id=relationship_id,
        program="rig",
        seq=seq,
        key=event_key(relationship_id, seq),
        type="RigChecked",
        actor="system:system",
        occurred_at=datetime.now(UTC),
        payload={},
    )


@pytest.mark.devserver
@pytest.mark.postgres
@pytest.mark.timeout(420)
async def test_a_ledger_outage_mid_lifecycle_loses_nothing_and_hangs_nothing(
    tmp_path: Path,
) -> None:
    """Two active pairs and one still onboarding, a program day per second. The database
    goes down; every pair is acted on and answers "recording pending"; reminders and missed
    meetings go on being decided; the database comes back and the backlog lands, once."""
    name, queue = program(), program()
    active = [Cast(name, n, Channel.OUTBOX) for n in (1, 2)]
    onboarding = Cast(name, 3, Channel.OUTBOX)
    casts = [*active, onboarding]
    with PrivatePostgres.running() as pg:
        async with DevServer.running(tmp_path) as server:
            env = worker_env(server, tmp_path, queue, MENTORFLOW_LEDGER_URL=pg.url)
            with workers(env, tmp_path) as pool:
                client = await server.client()
                await pool.start()
                for cast in active:
                    await cast.start(client, queue, FAST)
                    await bounded(cast.onboard(client), f"onboarding {cast.id}")
                await onboarding.start(client, queue, FAST)
                await eventually(
                    lambda: all_recorded(client, casts), "every event to be recorded first"
                )

                queued = await ride_out_an_outage(client, pg, active, onboarding)
                await eventually(
                    lambda: all_recorded(client, casts),
                    "the queued events to reach the ledger after it came back",
                    timeout=RECOVERY,
                )
                results = [
                    await bounded(cast.conclude(client), f"concluding {cast.id}", 3 * HANG)
                    for cast in active
                ]
                results.append(await finished(client, onboarding))
                with Ledger.from_url(pg.url) as ledger:
                    events = 0
                    for cast, result in zip(casts, results, strict=True):
                        events += await ledger_matches_live(client, ledger, cast, result.events)
                    reminders = reminders_recorded(ledger, casts)
                    sent = delivered_for(ledger, casts)
                    expired = reminders_expired(ledger, casts)
            lines = mine(outbox_lines(env), casts)

    assert results[-1].outcome is Outcome.NOT_STARTED
    each = Counter((m["key"], f"{m['recipient_role']}:{m['recipient_id']}") for m in lines)
    assert {k: n for k, n in each.items() if n > 1} == {}, "a notification delivered twice"
    assert set(each) == sent, "the outbox holds exactly what the delivery log holds as sent"
    # A meeting reminder decided during the outage reaches delivery after its meeting began:
    # it expires rather than arriving late. Every reminder is sent or expired, never lost.
    assert reminders == reminders_sent(lines) + expired, "every reminder decided is accounted for"
    assert all(kind != "onboarding_reminder" for kind, _ in expired), "only meeting prompts expire"
    kinds = Counter(m["kind"] for m in lines)
    assert "ledger_blocked" not in kinds, "an outage is waited out, it blocks nothing"
    assert "delivery_failed" not in kinds
    print(
        f"ledger outage: relationships {len(casts)}, events {events} ({queued} queued while "
        f"down), notifications {len(lines)}, reminders {sum(reminders.values())}, each once"
    )


async def all_recorded(client: Client, casts: list[Cast]) -> bool:
    """Nothing queued for the ledger, and never blocked."""
    for cast in casts:
        view = await status(client, cast.id)
        assert view.ledger_blocked is None, f"{cast.id} blocked: {view.ledger_blocked}"
        if view.ledger_pending:
            return False
    return True


async def ride_out_an_outage(
    client: Client, pg: PrivatePostgres, active: list[Cast], onboarding: Cast
) -> int:
    """Down: every pair is acted on and answers at once, timers go on deciding. Then back
    up. Returns how many events were queued in the workflows when the database came back."""
    casts = [*active, onboarding]
    await asyncio.to_thread(pg.stop)
    answers = await act_during_outage(client, active, onboarding)
    assert [a.recorded for a in answers] == [False] * len(casts), "recorded with the db down?"
    await eventually(
        lambda: timers_decide_while_down(client, casts, answers),
        "reminders and deadlines to go on firing while the ledger is down",
    )
    queued = sum([(await status(client, cast.id)).ledger_pending for cast in casts])
    await asyncio.to_thread(pg.start)
    return queued


async def act_during_outage(
    client: Client, active: list[Cast], onboarding: Cast
) -> list[UpdateResult]:
    """Every pair at once: the active mentees send an agenda, the other mentee her goals."""
    acts: list[tuple[Cast, c.Command]] = [
        (cast, await agenda_for_next_meeting(client, cast)) for cast in active
    ]
    acts.append((onboarding, goals(actor=onboarding.as_mentee)))
    return list(await asyncio.gather(*(answered(client, cast, cmd) for cast, cmd in acts)))


async def agenda_for_next_meeting(client: Client, cast: Cast) -> c.SubmitAgenda:
    meeting = (await status(client, cast.id)).state.next_meeting
    assert meeting is not None, f"{cast.id} has no meeting scheduled"
    return c.SubmitAgenda(
        actor=cast.as_mentee, meeting_number=meeting.number, items=["Planning while offline"]
    )


async def answered(client: Client, cast: Cast, command: c.Command) -> UpdateResult:
    return await bounded(act(client, cast.id, command), f"{type(command).__name__} to {cast.id}")


async def bounded(step: Awaitable[T], what: str, seconds: float = HANG) -> T:
    """A step that must answer: past `seconds` it hangs, and the test says which one did."""
    async with within(seconds, lambda: AssertionError(f"{what}: no answer in {seconds:g} s")):
        return await step


async def timers_decide_while_down(
    client: Client, casts: list[Cast], answers: list[UpdateResult]
) -> bool:
    """Each pair has decided more since its update, and everything from that update on is
    still queued: the lifecycle moved on without the ledger."""
    for cast, answer in zip(casts, answers, strict=True):
        view = await status(client, cast.id)
        first_unrecorded = answer.seq - len(answer.events) + 1
        if view.state.seq <= answer.seq:
            return False
        assert view.ledger_pending >= view.state.seq - first_unrecorded + 1, (
            f"{cast.id}: {view.ledger_pending} queued, but events {first_unrecorded} to "
            f"{view.state.seq} were decided while the ledger was down"
        )
    return True


async def finished(client: Client, cast: Cast) -> RelationshipResult:
    return await asyncio.wait_for(handle(client, cast.id).result(), WAIT)


async def ledger_matches_live(client: Client, ledger: Ledger, cast: Cast, events: int) -> int:
    """Seq 1..N once each, N the workflow's own count, chain intact, the fold the live state."""
    live = (await status(client, cast.id)).state
    records = audit.history(ledger, cast.id)
    assert [r.seq for r in records] == list(range(1, events + 1)), f"{cast.id}: gap or repeat"
    assert live.seq == events, f"{cast.id}: the workflow counts {live.seq}, the ledger {events}"
    report = audit.verify(ledger, cast.id)
    assert report.ok, f"{cast.id}: {report.problem}"
    assert audit.differences(live, audit.ledger_state(ledger, cast.id)) == [], cast.id
    return len(records)


def reminders_recorded(ledger: Ledger, casts: list[Cast]) -> Counter[tuple[str, str]]:
    """(notification kind, recipient role) each recorded reminder owes its recipients."""
    owed: Counter[tuple[str, str]] = Counter()
    for cast in casts:
        for record in audit.history(ledger, cast.id):
            event = record.event
            if isinstance(event, ReminderSent) and event.purpose in REMINDER_KINDS:
                owed.update((REMINDER_KINDS[event.purpose], role.value) for role in event.to)
    return owed


def reminders_sent(lines: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    kinds = set(REMINDER_KINDS.values())
    return Counter((m["kind"], m["recipient_role"]) for m in lines if m["kind"] in kinds)


def delivered_for(ledger: Ledger, casts: list[Cast]) -> set[tuple[str, str]]:
    prefixes = tuple(cast.id + ":" for cast in casts)
    return {(key, ref) for key, ref in delivered(ledger) if key.startswith(prefixes)}


def reminders_expired(ledger: Ledger, casts: list[Cast]) -> Counter[tuple[str, str]]:
    """(notification kind, recipient role) of meeting prompts that expired undelivered."""
    prefixes = tuple(cast.id + ":" for cast in casts)
    query = select(deliveries_table.c.key, deliveries_table.c.recipient).where(
        deliveries_table.c.status == "expired"
    )
    with ledger.engine.connect() as conn:
        rows = [(r.key, r.recipient) for r in conn.execute(query) if r.key.startswith(prefixes)]
    kind = {":prep-": "meeting_prep", ":reminder-": "meeting_reminder"}
    return Counter(
        (next(k for marker, k in kind.items() if marker in key), ref.split(":")[0])
        for key, ref in rows
    )


def mine(lines: list[dict[str, Any]], casts: list[Cast]) -> list[dict[str, Any]]:
    ids = {cast.id for cast in casts}
    return [m for m in lines if m["relationship_id"] in ids]


# ------------------------------------------------------------------------- integrity


@pytest.mark.devserver
@pytest.mark.timeout(300)
async def test_a_removed_row_blocks_the_relationship_until_repair(tmp_path: Path) -> None:
    """Someone deletes the latest event; the next append finds its predecessor gone. The
    operator restores the row from a backup and sends repair_ledger; the pair carries on."""
    name, queue = program(), program()
    pair = Cast(name, 1, Channel.OUTBOX)
    async with DevServer.running(tmp_path) as server:
        env = worker_env(server, tmp_path, queue)
        with (
            workers(env, tmp_path) as pool,
            Ledger.from_url(env["MENTORFLOW_LEDGER_URL"]) as ledger,
        ):
            client = await server.client()
            await pool.start()
            await pair.start(client, queue)
            await answered(client, pair, goals(actor=pair.as_mentee))
            await eventually(lambda: settled(client, ledger, pair), "the goals to be recorded")
            removed = remove_latest_row(ledger, pair.id)

            answer = await answered(client, pair, commitment(actor=pair.as_mentor))
            assert not answer.recorded
            view = await blocked_and_told(client, env, pair)
            assert names_event(view.ledger_blocked, removed["seq"], removed["key"]), view
            await refused_without_a_trace(client, pair, c.ConfirmAgreement(actor=pair.as_mentee))

            restore_row(ledger, removed)
            await repair(client, pair, f"restored event {removed['seq']} from the backup")
            view = await eventually(lambda: recorded_again(client, pair), "the repair to land")
            await ledger_matches_live(client, ledger, pair, view.state.seq)
            again = await answered(client, pair, c.ConfirmAgreement(actor=pair.as_mentee))
            assert again.recorded
            await ledger_matches_live(client, ledger, pair, again.seq)
            await eventually(
                lambda: not_listed_as_blocked(client, pair), "the search attribute to clear"
            )
            assert len(operator_told(env, pair)) == 1, "told once, not once per retry"


async def settled(client: Client, ledger: Ledger, cast: Cast) -> bool:
    """The ledger holds every event the workflow decided and nothing is in flight."""
    view = await status(client, cast.id)
    return ledger.last_seq(cast.id) == view.state.seq and await quiet(client, cast.id)


def remove_latest_row(ledger: Ledger, relationship_id: str) -> dict[str, Any]:
    """Delete the latest event as a careless DBA would, and hand back the row as a backup
    would hold it. (The next append needs this row as its predecessor; a row removed from the
    middle is `audit verify`'s to find.)"""
    seq = ledger.last_seq(relationship_id)
    where = (events_table.c.relationship_id == relationship_id) & (events_table.c.seq == seq)
    with ledger.engine.begin() as conn:
        row = dict(conn.execute(select(events_table).where(where)).mappings().one())
        conn.execute(delete(events_table).where(where))
    return row


def restore_row(ledger: Ledger, row: dict[str, Any]) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(insert(events_table).values(row))


async def blocked_and_told(client: Client, env: dict[str, str], cast: Cast) -> StatusView:
    """Blocked in its status, in visibility, and in the operator's inbox, then at rest."""
    view: StatusView = await eventually(
        lambda: blocked(client, cast), f"{cast.id} to show ledger blocked"
    )
    await eventually(lambda: listed_as_blocked(client, cast), "MentorshipLedgerBlocked = true")
    await eventually(lambda: operator_told(env, cast), "the operator's ledger_blocked notice")
    await eventually(lambda: quiet(client, cast.id), f"{cast.id} to come to rest")
    assert len(operator_told(env, cast)) == 1
    return view


async def blocked(client: Client, cast: Cast) -> StatusView | None:
    view = await status(client, cast.id)
    return view if view.ledger_blocked else None


async def recorded_again(client: Client, cast: Cast) -> StatusView | None:
    view = await status(client, cast.id)
    return view if view.ledger_blocked is None and view.ledger_pending == 0 else None


async def blocked_ids(client: Client, cast: Cast) -> set[str]:
    query = f"{sa.LEDGER_BLOCKED.name} = true AND {sa.PROGRAM.name} = '{cast.program}'"
    return {execution.id async for execution in client.list_workflows(query)}


async def listed_as_blocked(client: Client, cast: Cast) -> bool:
    return cast.id in await blocked_ids(client, cast)


async def not_listed_as_blocked(client: Client, cast: Cast) -> bool:
    return cast.id not in await blocked_ids(client, cast)


def operator_told(env: dict[str, str], cast: Cast) -> list[dict[str, Any]]:
    """The ledger_blocked notices in the outbox (none yet while it does not exist)."""
    exists = (Path(env["MENTORFLOW_DATA_DIR"]) / "outbox.jsonl").exists()
    lines = mine(outbox_lines(env), [cast]) if exists else []
    notices = [m for m in lines if m["kind"] == "ledger_blocked"]
    assert {m["recipient_role"] for m in notices} <= {"operator"}, notices
    return notices


def names_event(reason: str | None, seq: int, key: str) -> bool:
    """The reason points at the event concerned, by number or by key."""
    return reason is not None and (bool(re.search(rf"\bevent {seq}\b", reason)) or key in reason)


async def refused_without_a_trace(client: Client, cast: Cast, command: c.Command) -> None:
    """The validator refuses it: a reason for the caller, nothing in the workflow's history."""
    before = await history_length(client, cast.id)
    seq = (await status(client, cast.id)).state.seq
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await answered(client, cast, command)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.message.startswith("ledger blocked:"), cause.message
    assert await history_length(client, cast.id) == before
    assert (await status(client, cast.id)).state.seq == seq


async def history_length(client: Client, workflow_id: str) -> int:
    length: int = (await describe(client, workflow_id)).workflow_execution_info.history_length
    return length


async def repair(client: Client, cast: Cast, note: str) -> None:
    repaired = handle(client, cast.id).execute_update(
        REPAIR_LEDGER, RepairLedger(actor=cast.as_operator, note=note)
    )
    await bounded(repaired, f"repair_ledger to {cast.id}")


# ------------------------------------------------------------------------- a reused id


@pytest.mark.devserver
@pytest.mark.timeout(240)
async def test_a_pair_started_again_after_retention_is_never_stuck(tmp_path: Path) -> None:
    """Temporal forgot an earlier run of this pair (retention), the ledger did not. A new
    start under the same id collides with the earlier relationship's event 1: the new one
    must say so (status, visibility, the operator), and the earlier history stays as it was."""
    name, queue = program(), program()
    pair = Cast(name, 1, Channel.OUTBOX)
    async with DevServer.running(tmp_path) as server:
        env = worker_env(server, tmp_path, queue)
        with (
            workers(env, tmp_path) as pool,
            Ledger.from_url(env["MENTORFLOW_LEDGER_URL"]) as ledger,
        ):
            earlier = record_an_earlier_relationship(ledger, pair)
            client = await server.client()
            await pool.start()
            await pair.start(client, queue)  # the client has no ledger check (yet): it starts
            view = await blocked_and_told(client, env, pair)
            assert names_event(view.ledger_blocked, 1, event_key(pair.id, 1)), view
            assert [e.hash for e in ledger.events(pair.id)] == earlier, "history was rewritten"
            assert audit.verify(ledger, pair.id).ok


def record_an_earlier_relationship(ledger: Ledger, cast: Cast) -> list[str]:
    """The same pair, a year earlier: started and goals submitted. Returns the chain hashes."""
    then = datetime.now(UTC) - timedelta(days=365)
    req = request(
        program=cast.program,
        mentor=cast.mentor,
        mentee=cast.mentee,
        operator=cast.operator,
        policy=Policy(),
    )
    began = start(req, cast.id, then)
    stated = decide(began.state, goals(actor=cast.as_mentee), then + timedelta(days=1))
    ledger.append([to_entry(r) for r in [*began.recorded, *stated.recorded]])
    return [e.hash for e in ledger.events(cast.id)]
