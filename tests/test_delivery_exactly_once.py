"""Each notification reaches each recipient once, however slow the relay, however many attempts.

A relay on loopback that answers DATA only after 7 s used to get every message twice: the
first attempt inside the ledger activity stopped waiting after 5 s, its thread went on
sending, and `send_notification` sent again at once. Now an attempt claims the (notification
key, recipient) before it transmits; nothing cancels a send once it may be on the wire; an
attempt that finds a live claim joins it (same process) or comes back when its lease ends
(another process); a reminder whose meeting has begun expires instead of arriving late.

Real parts: aiosmtpd relays (tests/slow_relay.py), the ledger on SQLite and PostgreSQL, the
real Deliverer and LifecycleActivities, and one real workflow on the time-skipping server.
The 7 s relay runs on real time; nothing here asserts how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.channels import (
    ChannelsConfig,
    SmtpConfig,
    TemporaryDeliveryError,
    WebhookConfig,
)
from activities.delivery import LEASE_MARGIN_SECONDS, Deliverer, DeliveryInProgress
from activities.lifecycle import LifecycleActivities
from ledger.store import BUSY, CLAIMED, Ledger
from mentorship.notifications import Notification, NotificationKind, Recipient
from mentorship.participants import Channel as ChannelName
from mentorship.participants import Participant, Role
from tests.factories import ALICE, BOB, OPS, request
from tests.fault_rig import delivered, eventually, free_port, quiet
from tests.lifecycle import Lifecycle
from tests.slow_relay import SlowRelay
from tests.test_channels import BASE, FULL, SECRET, WebhookReceiver
from tests.test_channels import http_peer as http_peer  # fixture
from tests.test_ledger_store import ledger as ledger  # fixture: SQLite and PostgreSQL
from tests.test_ledger_store import ledger_url as ledger_url  # fixture
from tests.test_ledger_store import postgres_database as postgres_database  # fixture
from tests.test_ledger_store import run_together
from worker.app import build_worker
from worker.settings import Settings
from workflows.contract import EventBatch

pytestmark = pytest.mark.timeout(120)

ANA = Participant(id="ana", name="Ana Mentor", email="ana@example.org", channel=ChannelName.EMAIL)
BO = Participant(id="bo", name="Bo Mentee", email="bo@example.org", channel=ChannelName.EMAIL)
MENTOR = Recipient(role=Role.MENTOR, person=ANA)
MENTEE = Recipient(role=Role.MENTEE, person=BO)
T0 = datetime(2026, 3, 17, 9, 0, tzinfo=UTC)


def welcome(to: Recipient, relationship: str = "rel-ana-bo") -> Notification:
    return Notification(
        key=f"{relationship}:welcome:{to.role.value}",
        kind=NotificationKind.WELCOME,
        relationship_id=relationship,
        program="Acme Mentoring",
        recipients=(to,),
        context={**BASE, **FULL[NotificationKind.WELCOME]},
    )


def reminder(expires_at: datetime, number: int = 3) -> Notification:
    """As the decider makes it: it expires when the meeting starts."""
    return Notification(
        key=f"rel-ana-bo:meeting-{number}:reminder-0",
        kind=NotificationKind.MEETING_REMINDER,
        relationship_id="rel-ana-bo",
        program="Acme Mentoring",
        recipients=(MENTOR, MENTEE),
        context={**BASE, **FULL[NotificationKind.MEETING_REMINDER]},
        expires_at=expires_at,
    )


def channels(tmp_path: Path, port: int, **smtp: Any) -> ChannelsConfig:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Acme Mentoring <mentoring@acme.example>",
        **smtp,
    }
    return ChannelsConfig(outbox_path=tmp_path / "outbox.jsonl", smtp=SmtpConfig(**settings))


def activities(
    ledger: Ledger, config: ChannelsConfig, **options: Any
) -> tuple[LifecycleActivities, Deliverer]:
    clock = options.pop("clock", None)
    deliverer = Deliverer(config, ledger, clock=clock) if clock else Deliverer(config, ledger)
    return LifecycleActivities(ledger, deliverer, **options), deliverer


def statuses(ledger: Ledger, n: Notification) -> dict[str, str]:
    return {d.recipient: d.status for d in ledger.deliveries(n.key)}


async def retried_until_sent(
    activity: Callable[[Notification], Any], n: Notification, attempts: int = 5
) -> list[ApplicationError]:
    """What Temporal does with send_notification, minus the waiting: retry while retryable."""
    failures: list[ApplicationError] = []
    for _ in range(attempts):
        try:
            await activity(n)
            return failures
        except ApplicationError as failure:
            assert not failure.non_retryable, failure
            failures.append(failure)
    raise AssertionError(f"{n.key} still not delivered after {attempts} attempts: {failures}")


# ------------------------------------------------------------------------- the claim


def test_of_many_racing_attempts_exactly_one_gets_the_claim(ledger_url: str) -> None:
    """Two workers on one ledger, four attempts each, all at the same instant."""
    with Ledger.from_url(ledger_url) as left, Ledger.from_url(ledger_url) as right:
        for n in range(5):
            key = f"rel-ana-bo:welcome-{n}"
            claims, errors = run_together(
                [
                    partial(
                        store.claim_delivery,
                        key,
                        "mentee:bo",
                        "email",
                        token=f"claim {i}",
                        now=T0,
                        stale_before=T0 - timedelta(seconds=30),
                    )
                    for i, store in enumerate([left, right] * 4)
                ]
            )
            assert errors == []
            assert sorted(c.state for c in claims) == [BUSY] * 7 + [CLAIMED]
            [row] = left.deliveries(key)
            assert (row.status, row.attempts) == ("sending", 1)


def test_a_live_claim_is_waited_for_and_an_abandoned_one_taken_over(ledger: Ledger) -> None:
    lease = timedelta(seconds=25)

    def claim(token: str, at: datetime) -> Any:
        return ledger.claim_delivery(
            "k", "mentee:bo", "email", token=token, now=at, stale_before=at - lease
        )

    first = claim("claim first", T0)
    busy = claim("claim second", T0 + timedelta(seconds=10))
    assert (first.state, busy.state, busy.since) == (CLAIMED, BUSY, T0)

    # The first sender died mid-send; once its lease ran out the next attempt takes over.
    taken = claim("claim third", T0 + timedelta(seconds=26))
    assert (taken.state, taken.taken_over, taken.attempts) == (CLAIMED, True, 2)

    # The dead sender's late "failed" must not free the claim the third attempt holds.
    assert ledger.finish_delivery("k", "mentee:bo", "claim first", "failed", "timeout") is False
    assert claim("claim fourth", T0 + timedelta(seconds=30)).state == BUSY
    assert ledger.finish_delivery("k", "mentee:bo", "claim third", "delivered") is True
    assert claim("claim fifth", T0 + timedelta(days=1)).state == "delivered"
    [row] = ledger.deliveries("k")
    assert (row.status, row.attempts) == ("delivered", 2)


def test_past_its_expiry_nothing_is_claimed_and_the_row_says_expired(ledger: Ledger) -> None:
    meeting = T0 + timedelta(hours=1)

    def claim(key: str, at: datetime) -> Any:
        return ledger.claim_delivery(
            key,
            "mentor:ana",
            "email",
            token=f"claim {at}",
            now=at,
            stale_before=at - timedelta(seconds=25),
            expires_at=meeting,
        )

    assert claim("never-tried", meeting).state == "expired"
    assert claim("failed-before", T0).state == CLAIMED
    ledger.finish_delivery("failed-before", "mentor:ana", f"claim {T0}", "failed", "451 busy")
    assert claim("failed-before", meeting + timedelta(minutes=5)).state == "expired"
    assert claim("sent-before", T0).state == CLAIMED
    ledger.finish_delivery("sent-before", "mentor:ana", "", "delivered")
    assert claim("sent-before", meeting + timedelta(minutes=5)).state == "delivered"
    # A claim taken before the meeting is still on the wire: wait for it, do not expire it.
    assert claim("in-flight", meeting - timedelta(seconds=1)).state == CLAIMED
    assert claim("in-flight", meeting + timedelta(seconds=5)).state == BUSY

    ledger.record_delivery("never-tried", "mentor:ana", "email", "failed", "a late retry")
    [never] = ledger.deliveries("never-tried")
    assert (never.status, never.attempts) == ("expired", 0), "a late failure keeps 'expired'"
    assert "expired" in never.detail


# ------------------------------------------------------------------------- the deliverer


async def test_concurrent_attempts_on_the_same_key_transmit_once(
    ledger_url: str, tmp_path: Path
) -> None:
    """Two attempts in one worker share one send; a third in another worker does not send."""
    relay = SlowRelay(delay=1.0)
    n = welcome(MENTEE)
    with (
        relay.serving(),
        Ledger.from_url(ledger_url) as mine,
        Ledger.from_url(ledger_url) as theirs,
    ):
        here = Deliverer(channels(tmp_path, relay.port), mine)
        there = Deliverer(channels(tmp_path, relay.port), theirs)
        first = asyncio.create_task(here.deliver(n))
        await eventually(lambda: relay.received, "the first attempt to reach the relay")
        results = await asyncio.gather(
            first, here.deliver(n), there.deliver(n), return_exceptions=True
        )
        again = await there.deliver(n)  # its retry, once the first has finished

    joined, elsewhere = results[1], results[2]
    assert not isinstance(results[0], BaseException) and not isinstance(joined, BaseException)
    assert results[0].outcome_for("mentee:bo") == joined.outcome_for("mentee:bo") == "delivered"
    assert isinstance(elsewhere, TemporaryDeliveryError)
    assert isinstance(elsewhere.__cause__, DeliveryInProgress), "it did not send, it waits"
    lease = SmtpConfig(sender="x@example.org").send_deadline + LEASE_MARGIN_SECONDS
    assert elsewhere.retry_after is not None and 0 < elsewhere.retry_after <= lease
    assert again.outcome_for("mentee:bo") == "skipped_already_delivered"
    assert relay.accepted == {(n.key, "bo@example.org"): 1}
    assert relay.received == relay.accepted and relay.most_at_once[(n.key, "bo@example.org")] == 1


async def test_a_claim_held_by_another_worker_sets_the_next_retry_to_the_rest_of_its_lease(
    ledger: Ledger, tmp_path: Path
) -> None:
    relay = SlowRelay()
    n = welcome(MENTEE)
    config = channels(tmp_path, relay.port, timeout=10)  # deadline 20 s, lease 25 s
    lease = timedelta(seconds=20 + LEASE_MARGIN_SECONDS)
    claimed = ledger.claim_delivery(
        n.key, "mentee:bo", "email", token="claim elsewhere", now=T0, stale_before=T0 - lease
    )
    assert claimed.state == CLAIMED
    later = T0 + timedelta(seconds=10)
    lifecycle, _ = activities(ledger, config, clock=lambda: later)

    with relay.serving(), pytest.raises(ApplicationError) as raised:
        await lifecycle.send_notification(n)

    assert raised.value.next_retry_delay == lease - timedelta(seconds=10)
    assert raised.value.type == "TemporaryDeliveryError" and not raised.value.non_retryable
    assert relay.received == {}, "nothing is sent beside a live claim"


async def test_a_webhooks_retry_after_sets_the_next_retry_delay(
    ledger: Ledger, tmp_path: Path, http_peer: Callable[..., WebhookReceiver]
) -> None:
    receiver = http_peer(script=[429])  # answers Retry-After: 7
    hooked = BO.model_copy(update={"channel": ChannelName.WEBHOOK, "webhook_url": receiver.url()})
    config = ChannelsConfig(
        outbox_path=tmp_path / "outbox.jsonl", webhook=WebhookConfig(secret=SecretStr(SECRET))
    )
    lifecycle, _ = activities(ledger, config)
    n = welcome(Recipient(role=Role.MENTEE, person=hooked))

    with pytest.raises(ApplicationError) as raised:
        await lifecycle.send_notification(n)
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    assert not raised.value.non_retryable

    await lifecycle.send_notification(n)  # the retry Temporal makes 7 s later
    assert [hit.status for hit in receiver.hits] == [429, 200]
    assert statuses(ledger, n) == {"mentee:bo": "delivered"}


class Greylisting:
    """Refuses the first DATA with a wait in words, as greylisting relays do."""

    def __init__(self) -> None:
        self.attempts = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts == 1:
            return "451 4.7.1 Greylisted, please try again in 2 minutes"
        return "250 OK"


@pytest.fixture
def greylisting() -> Iterator[tuple[Greylisting, int]]:
    handler, port = Greylisting(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


async def test_an_smtp_4xx_that_names_a_wait_sets_the_next_retry_delay(
    ledger: Ledger, tmp_path: Path, greylisting: tuple[Greylisting, int]
) -> None:
    handler, port = greylisting
    lifecycle, _ = activities(ledger, channels(tmp_path, port))
    n = welcome(MENTEE)

    failures = await retried_until_sent(lifecycle.send_notification, n)

    assert [f.next_retry_delay for f in failures] == [timedelta(minutes=2)]
    assert handler.attempts == 2
    assert statuses(ledger, n) == {"mentee:bo": "delivered"}


async def test_a_reminder_after_its_meeting_expires_sends_nothing_and_succeeds(
    ledger: Ledger, tmp_path: Path
) -> None:
    relay = SlowRelay()
    n = reminder(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    lifecycle, _ = activities(ledger, channels(tmp_path, relay.port))
    with relay.serving():
        await lifecycle.send_notification(n)  # no ApplicationError: nothing for the operator
        result = await lifecycle.record_events(
            EventBatch(relationship_id="rel-ana-bo", events=[], notifications=[n])
        )
    assert (result.retry, result.failed) == ([], {})
    assert relay.received == {}
    assert statuses(ledger, n) == {"mentor:ana": "expired", "mentee:bo": "expired"}
    assert all("expired" in d.detail for d in ledger.deliveries(n.key))


# ------------------------------------------------------------------------- fault: slow relay


async def test_a_relay_that_answers_data_after_7_s_gets_each_message_exactly_once(
    ledger_url: str, tmp_path: Path
) -> None:
    """The first attempt stops waiting at 5 s and hands over; its sends go on and land at
    7 s; `send_notification` joins them here and waits out their claims in another worker.
    The reminder's meeting has already begun: it never reaches the relay."""
    relay = SlowRelay(delay=7.0)
    welcomes = [welcome(MENTOR), welcome(MENTEE)]
    late = reminder(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    batch = EventBatch(relationship_id="rel-ana-bo", events=[], notifications=[*welcomes, late])
    with (
        relay.serving(),
        Ledger.from_url(ledger_url) as mine,
        Ledger.from_url(ledger_url) as theirs,
    ):
        config = channels(tmp_path, relay.port)  # timeout 10 s, deadline 20 s
        here, _ = activities(mine, config)
        there, _ = activities(theirs, config)

        result = await here.record_events(batch)
        assert sorted(result.retry) == sorted(n.key for n in welcomes), "handed over at 5 s"
        elsewhere = [await _unless_delivered(mine, there.send_notification(n), n) for n in welcomes]
        await asyncio.gather(*(here.send_notification(n) for n in welcomes))
        for n in welcomes:  # the other worker's retries, after the lease it was given
            await there.send_notification(n)
        rows = {n.key: statuses(mine, n) for n in [*welcomes, late]}

    # While the sends were on the wire, the other worker was told to come back later.
    assert all(f is None or f.next_retry_delay is not None for f in elsewhere), elsewhere
    assert relay.accepted == {
        ("rel-ana-bo:welcome:mentor", "ana@example.org"): 1,
        ("rel-ana-bo:welcome:mentee", "bo@example.org"): 1,
    }
    assert relay.received == relay.accepted, "nothing was transmitted twice"
    assert set(relay.most_at_once.values()) == {1}
    assert rows == {
        "rel-ana-bo:welcome:mentor": {"mentor:ana": "delivered"},
        "rel-ana-bo:welcome:mentee": {"mentee:bo": "delivered"},
        late.key: {"mentor:ana": "expired", "mentee:bo": "expired"},
    }
    print(
        f"7 s relay: accepted {relay.total_accepted()} of 2 expected, "
        f"received {sum(relay.received.values())}, expired reminder sent 0, other worker "
        f"told to wait {[f.next_retry_delay for f in elsewhere if f is not None]}"
    )


async def _failure(attempt: Any) -> ApplicationError:
    try:
        await attempt
    except ApplicationError as failure:
        return failure
    raise AssertionError("expected the attempt to fail and be retried")


async def _unless_delivered(
    ledger: Ledger, attempt: Any, n: Notification
) -> ApplicationError | None:
    """The failure, or None if a slow machine let the send finish first (nothing to wait for)."""
    try:
        await attempt
    except ApplicationError as failure:
        return failure
    assert set(statuses(ledger, n).values()) == {"delivered"}
    return None


# ------------------------------------------------------------------------- fault: hung relay


async def test_a_relay_that_hangs_gets_each_message_once_and_no_reminder_after_its_meeting(
    ledger_url: str, tmp_path: Path
) -> None:
    """The relay reads each message and never answers. The sends outlive the first attempt
    (1 s here), the durable path joins them, the send deadline cuts them; nothing was
    accepted, so the retries send again, once the relay works, with the same Message-ID.
    Meanwhile the meeting began (by the worker's clock, which the test moves): the reminder
    expires instead of arriving late."""
    relay = SlowRelay(hang=True)
    # The worker's clock, moved by the test: the meeting begins while the relay hangs.
    now = [T0]
    meeting = T0 + timedelta(minutes=10)
    soon, late = welcome(MENTEE), reminder(expires_at=meeting)
    batch = EventBatch(relationship_id="rel-ana-bo", events=[], notifications=[soon, late])
    with relay.serving(), Ledger.from_url(ledger_url) as store:
        # The relay's replies may take 30 s; the whole send may not take 2.5 s.
        config = channels(tmp_path, relay.port, timeout=30, deadline=2.5)
        lifecycle, deliverer = activities(
            store, config, first_attempt_seconds=1.0, clock=lambda: now[0]
        )

        result = await lifecycle.record_events(batch)
        assert sorted(result.retry) == sorted([soon.key, late.key])
        first_retries = await asyncio.gather(
            *(_failure(lifecycle.send_notification(n)) for n in (soon, late))
        )
        assert deliverer.in_flight == 0, "the deadline ended every hung send"
        now[0] = meeting + timedelta(minutes=1)
        relay.recover()
        for n in (soon, late):
            await retried_until_sent(lifecycle.send_notification, n)
        rows = {n.key: statuses(store, n) for n in (soon, late)}

    assert all("did not finish within 2.5 s" in f.message for f in first_retries), first_retries
    bo = (soon.key, "bo@example.org")
    assert relay.accepted == {bo: 1}, "the welcome once, the reminder never"
    assert relay.most_at_once[bo] == 1 and len(relay.message_ids[bo]) == 1
    assert rows == {
        soon.key: {"mentee:bo": "delivered"},
        late.key: {"mentor:ana": "expired", "mentee:bo": "expired"},
    }
    print(
        f"hung relay: accepted {relay.total_accepted()} of 1 expected, "
        f"received {sum(relay.received.values())} (hung copies dropped unanswered), "
        f"reminder accepted {relay.accepted[(late.key, 'ana@example.org')]}"
    )


# ------------------------------------------------------------------------- a real workflow


async def test_a_new_relationships_welcomes_cross_a_7_s_relay_exactly_once(
    time_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The whole path: the workflow's ledger activity first-attempts the welcomes, stops
    waiting at 5 s, the workflow retries them durably with send_notification, which joins
    the sends still on the wire."""
    relay = SlowRelay(delay=7.0)
    by_mail = {"channel": ChannelName.EMAIL}
    mentor, mentee = ALICE.model_copy(update=by_mail), BOB.model_copy(update=by_mail)
    store = Ledger.from_url(settings.resolved_ledger_url)
    config = channels(settings.data_dir, relay.port)
    lifecycle, _ = activities(store, config)
    try:
        with relay.serving():
            async with build_worker(time_env.client, settings, lifecycle):
                life = Lifecycle(time_env, settings, store)
                pair = await life.start(request(mentor=mentor, mentee=mentee, operator=OPS))

                async def settled() -> bool:
                    return len(relay.accepted) >= 2 and await quiet(time_env.client, pair.id)

                await eventually(settled, "both welcomes to arrive and the workflow to settle")
                await life.close()
        sent = {(key, ref) for key, ref in delivered(store) if key.startswith(pair.id)}
    finally:
        store.dispose()

    emails = {"mentor:alice": "alice@example.org", "mentee:bob": "bob@example.org"}
    assert set(relay.accepted) == {(key, emails[ref]) for key, ref in sent}
    assert set(relay.accepted.values()) == {1}, relay.accepted
    assert relay.received == relay.accepted
    assert set(relay.kinds.values()) == {"welcome"}
    assert "delivery_failed" not in {m["kind"] for m in life.outbox()}
    print(f"workflow, 7 s relay: accepted {relay.total_accepted()} of 2 expected, each once")
