"""Faults against the real thing: workers SIGKILLed mid-work, the Temporal server killed and
restarted on its SQLite file, the mail relay down for a while. Nothing may be lost, nothing
done twice: every relationship finishes, its ledger holds each domain event once (seq 1..N,
hash chain intact, fold equal to the live state), and every notification reaches the relay
exactly once.

Each test runs its own `temporal server start-dev` on a SQLite file (the shared in-memory dev
server cannot be killed) and `python -m worker` processes, as deployed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from client.relationships import act, handle, start_relationship, status
from ledger.records import recorded_events
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.commands import ReviewDecision
from mentorship.events import Outcome
from mentorship.fold import replay
from mentorship.participants import Actor, Channel, Participant, Role
from mentorship.policy import Policy
from tests.factories import Journey, commitment, goals, reflection, request, review
from tests.fault_rig import (
    DevServer,
    Relay,
    delivered,
    describe,
    eventually,
    ledger_locked,
    quiet,
    worker_env,
    workers,
)
from workflows.contract import RelationshipResult, UpdateResult

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(240)]


# ------------------------------------------------------------------------- the cast


class Cast:
    """A mentor and a mentee of their own per relationship, so a test can single one out."""

    def __init__(self, program: str, number: int, channel: Channel) -> None:
        self.program = program
        self.mentor = Participant(
            id=f"mentor{number}",
            name=f"Mentor {number}",
            email=f"mentor{number}@example.org",
            channel=channel,
        )
        self.mentee = Participant(
            id=f"mentee{number}",
            name=f"Mentee {number}",
            email=f"mentee{number}@example.org",
            channel=channel,
        )
        self.operator = Participant(
            id="olga", name="Olga Operator", email="olga@example.org", channel=channel
        )
        self.as_mentor = Actor(role=Role.MENTOR, id=self.mentor.id)
        self.as_mentee = Actor(role=Role.MENTEE, id=self.mentee.id)
        self.as_operator = Actor(role=Role.OPERATOR, id="olga")

    @property
    def id(self) -> str:
        return f"{self.program}.{self.mentee.id}.{self.mentor.id}"

    def email_of(self, recipient_ref: str) -> str:
        role, _, _ = recipient_ref.partition(":")
        return {"mentor": self.mentor, "mentee": self.mentee, "operator": self.operator}[role].email

    async def start(self, client: Client, task_queue: str, policy: Policy | None = None) -> None:
        req = request(
            program=self.program,
            mentor=self.mentor,
            mentee=self.mentee,
            operator=self.operator,
            policy=policy or Policy(),
        )
        started = await start_relationship(client, req, task_queue, datetime.now(UTC))
        assert started.created

    async def onboard(self, client: Client) -> None:
        await act(client, self.id, goals(actor=self.as_mentee))
        await act(client, self.id, commitment(actor=self.as_mentor))
        await act(client, self.id, c.ConfirmAgreement(actor=self.as_mentee))
        await act(client, self.id, c.ConfirmAgreement(actor=self.as_mentor))

    async def conclude(self, client: Client) -> RelationshipResult:
        await act(client, self.id, c.Conclude(actor=self.as_mentor, reason="fault drill over"))
        await act(client, self.id, reflection(self.as_mentor))
        await act(client, self.id, reflection(self.as_mentee))
        return await asyncio.wait_for(handle(client, self.id).result(), 120)


def program() -> str:
    return f"faults-{uuid.uuid4().hex[:6]}"


async def ledger_is_whole(client: Client, ledger: Ledger, cast: Cast, events: int) -> int:
    """Seq 1..N, each once, chain intact, and the fold of the ledger is the live state."""
    recorded = recorded_events(ledger.events(cast.id))
    assert [r.seq for r in recorded] == list(range(1, events + 1)), f"{cast.id}: gap or repeat"
    assert ledger.verify(cast.id).ok
    assert replay(cast.id, recorded) == (await status(client, cast.id)).state
    return len(recorded)


# ------------------------------------------------------------------------- worker kills


async def test_workers_killed_mid_delivery_between_updates_and_around_continue_as_new(
    tmp_path: Path,
) -> None:
    """Four SIGKILLs: while a welcome email is on the wire; while a relationship is idle
    between two updates; while a review decision (which ends the run) is recording; while a
    burst of updates is in flight. A fresh worker finishes all of it, once."""
    name, queue, relay = program(), program(), Relay()
    first, second, third = (Cast(name, n, Channel.EMAIL) for n in (1, 2, 3))
    async with DevServer.running(tmp_path) as server:
        env = worker_env(server, tmp_path, queue, **relay.settings)
        with relay.serving(), workers(env, tmp_path) as pool:
            client = await server.client()
            await pool.start()

            # 1. Mid-activity: the mentee's welcome is held at RCPT, then the worker dies.
            relay.hold(first.mentee.email)
            await first.start(client, queue)
            await eventually(relay.held.is_set, "the first welcome to reach the relay")
            pool.kill()
            relay.release()
            await pool.start()

            # 2. Between updates: idle, killed; the next update waits for the next worker.
            await second.start(client, queue)
            await act(client, second.id, goals(actor=second.as_mentee))
            await act(client, second.id, commitment(actor=second.as_mentor))
            await eventually(lambda: quiet(client, second.id), "the second pair to go idle")
            pool.kill()
            waiting = asyncio.create_task(
                act(client, second.id, c.ConfirmAgreement(actor=second.as_mentee))
            )
            await pool.start()
            await waiting
            await act(client, second.id, c.ConfirmAgreement(actor=second.as_mentor))

            # 3. Around continue-as-new: the decision's outcome email is on the wire.
            await third.start(client, queue)
            await third.onboard(client)
            await act(client, third.id, c.RequestReview(actor=third.as_mentee, reason="drill"))
            await act(client, third.id, review(third.as_mentor, 1, ReviewDecision.CONTINUE))
            relay.hold(third.mentor.email)
            decision = asyncio.create_task(
                act(client, third.id, review(third.as_mentee, 1, ReviewDecision.CONTINUE))
            )
            await eventually(relay.held.is_set, "the review outcome to reach the relay")
            pool.kill()
            relay.release()
            await pool.start()

            # 4. Mid ledger write: the ledger is locked, a burst of updates piles up behind
            #    the blocked write, and the worker dies with all of them in flight.
            agendas = [
                c.SubmitAgenda(actor=second.as_mentee, meeting_number=1, items=[f"Topic {i}"])
                for i in range(6)
            ]
            with ledger_locked(tmp_path / "ledger.db"):
                burst = [asyncio.create_task(act(client, second.id, a)) for a in agendas]
                await eventually(lambda: recording(client, second.id), "the ledger write to block")
                pool.kill()
            await pool.start()
            results: list[UpdateResult] = await asyncio.gather(*burst)
            assert len({r.seq for r in results}) == len(agendas), "each update applied once"

            assert "ReviewDecided" in (await decision).events
            await eventually(lambda: run_is(client, third, 2), "the third pair to continue as new")
            await first.onboard(client)

            outcomes = [await cast.conclude(client) for cast in (first, second, third)]
            assert {o.outcome for o in outcomes} == {Outcome.CONCLUDED_EARLY}
            assert pool.kills == 4

            ledger = Ledger.from_url(env["MENTORFLOW_LEDGER_URL"])
            try:
                checked = 0
                for cast, outcome in zip((first, second, third), outcomes, strict=True):
                    checked += await ledger_is_whole(client, ledger, cast, outcome.events)
                agendas_recorded = [
                    e for e in ledger.events(second.id) if e.type == "AgendaSubmitted"
                ]
                assert len(agendas_recorded) == len(agendas)
                expected = {
                    (key, cast.email_of(ref))
                    for key, ref in delivered(ledger)
                    for cast in (first, second, third)
                    if key.startswith(cast.id + ":")
                }
            finally:
                ledger.dispose()

    duplicates = {k: n for k, n in relay.accepted.items() if n > 1}
    assert duplicates == {}
    assert set(relay.accepted) == expected, "the relay got exactly what the log holds as sent"
    assert relay.accepted[(f"{first.id}:welcome:mentee", first.mentee.email)] == 1
    assert relay.accepted[(f"{third.id}:review-1:outcome", third.mentor.email)] == 1
    print(
        f"worker kills: {pool.kills}, relationships: 3, events checked: {checked}, "
        f"emails: {sum(relay.accepted.values())}, duplicates: {len(duplicates)}"
    )


async def recording(client: Client, workflow_id: str) -> bool:
    """The ledger activity has started (and is stuck on the lock)."""
    response = await describe(client, workflow_id)
    return any(
        a.activity_type.name == "record_events"
        and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for a in response.pending_activities
    )


async def run_is(client: Client, cast: Cast, run: int) -> bool:
    return (await status(client, cast.id)).run == run


# ------------------------------------------------------------------------- the mail relay down


async def test_a_relay_outage_holds_nothing_back_and_each_email_arrives_once_after(
    tmp_path: Path,
) -> None:
    name, queue, relay = program(), program(), Relay()
    pair = Cast(name, 1, Channel.EMAIL)
    async with DevServer.running(tmp_path) as server:
        env = worker_env(server, tmp_path, queue, **relay.settings)
        with workers(env, tmp_path) as pool:
            client = await server.client()
            await pool.start()
            ledger = Ledger.from_url(env["MENTORFLOW_LEDGER_URL"])
            try:
                # The relay is down from the start: the whole onboarding goes ahead anyway.
                await pair.start(client, queue)
                await pair.onboard(client)
                view = await status(client, pair.id)
                assert view.state.phase.value == "active"
                assert [r.seq for r in ledger.events(pair.id)] == list(range(1, view.state.seq + 1))
                await eventually(
                    lambda: retrying(client, pair.id), "deliveries to be retried durably"
                )
                assert not relay.accepted

                with relay.serving():
                    await eventually(
                        lambda: backlog_sent(client, ledger, relay, pair),
                        "the backlog to be delivered after the relay came back",
                        timeout=60,
                    )
                    result = await pair.conclude(client)
                    await ledger_is_whole(client, ledger, pair, result.events)
                    sent = delivered(ledger)
            finally:
                ledger.dispose()

    assert {n for n in relay.accepted.values()} == {1}
    assert set(relay.accepted) == {(key, pair.email_of(ref)) for key, ref in sent}
    kinds = Counter(relay.kinds.values())
    assert kinds["welcome"] == 2 and kinds["agreement_confirmed"] == 1
    assert "delivery_failed" not in kinds, "a short outage is not the operator's problem"
    print(f"relay outage: emails {sum(relay.accepted.values())}, each once, events {result.events}")


async def retrying(client: Client, workflow_id: str) -> bool:
    """A delivery failed and waits for its next attempt (durable retry, not the first try)."""
    response = await describe(client, workflow_id)
    return any(
        a.activity_type.name == "send_notification" and a.HasField("last_failure")
        for a in response.pending_activities
    )


async def backlog_sent(client: Client, ledger: Ledger, relay: Relay, cast: Cast) -> bool:
    """Nothing left to retry, and the relay has everything the delivery log holds as sent."""
    if not await quiet(client, cast.id):
        return False
    mine = {(k, r) for k, r in delivered(ledger) if k.startswith(cast.id + ":")}
    return bool(mine) and {(k, cast.email_of(r)) for k, r in mine} <= set(relay.accepted)


# ------------------------------------------------------------------------- the server killed


OPEN = 20
# A program day passes in one second: onboarding reminders every 3 s, the deadline at 14 s,
# the end of the grace period at 21 s. The server dies once all have started, seconds in.
FAST = Policy(time_scale=86_400)


async def test_a_server_killed_with_open_relationships_resumes_every_timer(tmp_path: Path) -> None:
    name, queue = program(), program()
    casts = [Cast(name, n, Channel.OUTBOX) for n in range(1, OPEN + 1)]
    async with DevServer.running(tmp_path) as server:
        env = worker_env(server, tmp_path, queue)
        with workers(env, tmp_path) as pool:
            client = await server.client()
            await pool.start()
            for cast in casts:
                await cast.start(client, queue, FAST)
            await eventually(
                lambda: all_quiet(client, casts), "every relationship to start", timeout=60
            )
            server.kill()
            killed_at = datetime.now(UTC)
            await server.start()
            results = await asyncio.wait_for(
                asyncio.gather(*(handle(client, cast.id).result() for cast in casts)), 90
            )
            ledger = Ledger.from_url(env["MENTORFLOW_LEDGER_URL"])
            try:
                kinds: dict[str, Counter[str]] = {}
                checked = 0
                for cast, result in zip(casts, results, strict=True):
                    assert result.outcome is Outcome.NOT_STARTED
                    checked += await ledger_is_whole(client, ledger, cast, result.events)
                    entries = ledger.events(cast.id)
                    kinds[cast.id] = Counter(e.type for e in entries)
                    # It ended on the grace-period timer it had pending when the server died.
                    assert entries[-1].type == "Concluded", cast.id
                    assert entries[-1].occurred_at > killed_at, cast.id
            finally:
                ledger.dispose()
            sent = outbox_lines(env)

    reference = Journey(request(policy=FAST))
    reference.advance_by(days=30)
    assert reference.state.outcome is Outcome.NOT_STARTED
    expected_mail = Counter(
        (n.kind.value, r.role.value) for n in reference.notifications for r in n.recipients
    )
    for cast in casts:
        assert kinds[cast.id] == Counter(reference.kinds()), cast.id
        mine = Counter(
            (m["kind"], m["recipient_role"]) for m in sent if m["relationship_id"] == cast.id
        )
        assert mine == expected_mail, cast.id
    assert server.kills == 1
    print(f"server kill: {OPEN} open relationships resumed, events checked: {checked}")


async def all_quiet(client: Client, casts: list[Cast]) -> bool:
    return all([await quiet(client, cast.id) for cast in casts])


def outbox_lines(env: dict[str, str]) -> list[dict[str, str]]:
    path = Path(env["MENTORFLOW_DATA_DIR"]) / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
