"""Deliver a notification to each recipient exactly once, however often the activity runs.

Temporal retries activities and replays workflows; the delivery log (the SQL ledger in
production) remembers who already got which notification, so a retry only sends what is
still missing. Failures are sorted into "try again" and "give up", the only two answers the
workflow can act on.

One attempt at a time. Before transmitting, an attempt claims the (notification key,
recipient) in the delivery log: a 'sending' row, leased for longer than the channel's hard
send deadline (`Channel.send_deadline`, after which the channel has cut the connection). An
attempt that finds a live claim does not send: in this process it joins the attempt in flight
and shares its outcome; elsewhere it fails with `DeliveryInProgress`, whose `retry_after` is
what is left of the lease. Once a send may be on the wire nothing cancels it: whoever stops
waiting for it (the bounded first attempt in the ledger activity, a cancelled activity) leaves
it running to its end, which records 'delivered' or gives the claim back ('failed').

The one at-least-once window: a sender that dies mid-send (SIGKILL, power loss) leaves its
claim unfinished. When the lease has run out, the next attempt sends again, logged as
`notification.resending_after_an_abandoned_attempt`, with the same email Message-ID and
webhook Idempotency-Key, so a receiver can drop the copy. The same holds for a relay that
took a message but whose reply never arrived: for the sender that is a failed send.

A notification past its `expires_at` (by this worker's clock) is recorded as 'expired' and
not sent; the delivery succeeds, so nobody is told of a failure.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, Protocol, runtime_checkable

import structlog
from pydantic import BaseModel, ConfigDict

from activities.channels import (
    Channel,
    ChannelsConfig,
    DeliveryError,
    OutboxChannel,
    OutgoingMessage,
    PermanentDeliveryError,
    SmtpChannel,
    TemporaryDeliveryError,
    WebhookChannel,
    recipient_ref,
)
from activities.rendering import render
from ledger.store import BUSY, CLAIMED, DeliveryClaim
from mentorship.notifications import Notification, Recipient
from mentorship.participants import Channel as ChannelName

__all__ = [
    "DELIVERED",
    "EXPIRED",
    "FAILED",
    "LEASE_MARGIN_SECONDS",
    "ClaimingDeliveryLog",
    "Deliverer",
    "DeliveryError",
    "DeliveryInProgress",
    "DeliveryLog",
    "DeliveryReport",
    "Outcome",
    "PermanentDeliveryError",
    "RecipientOutcome",
    "TemporaryDeliveryError",
    "build_channels",
]

log = structlog.get_logger()

DELIVERED = "delivered"
FAILED = "failed"
EXPIRED = "expired"
# A claim outlives the channel's own deadline by this much: time for the sending thread to
# notice its cut connection and record the outcome.
LEASE_MARGIN_SECONDS = 5.0
# Never ask Temporal to come back sooner than this, however little of a lease is left.
MIN_RETRY_SECONDS = 1.0


class DeliveryLog(Protocol):
    """What delivery needs from the ledger: who already has a notification, and a record."""

    def delivery_status(self, key: str, recipient: str) -> str | None: ...

    def record_delivery(
        self, key: str, recipient: str, channel: str, status: str, detail: str = ""
    ) -> None: ...


@runtime_checkable
class ClaimingDeliveryLog(DeliveryLog, Protocol):
    """A log that can hold a claim, so attempts in other processes never send at once (the
    ledger). A plain `DeliveryLog` still gets one attempt at a time within this process."""

    def claim_delivery(
        self,
        key: str,
        recipient: str,
        channel: str,
        *,
        token: str,
        now: datetime,
        stale_before: datetime,
        expires_at: datetime | None = None,
    ) -> DeliveryClaim: ...

    def finish_delivery(
        self, key: str, recipient: str, token: str, status: str, detail: str = ""
    ) -> bool: ...


class DeliveryInProgress(TemporaryDeliveryError):
    """Another attempt holds the claim and may be transmitting right now: sending as well
    could deliver twice, so try again once its lease has run out (`retry_after`)."""


class Outcome(StrEnum):
    DELIVERED = "delivered"
    SKIPPED_ALREADY_DELIVERED = "skipped_already_delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    IN_PROGRESS = "in_progress"


class RecipientOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    recipient: str
    channel: str
    outcome: Outcome
    detail: str = ""


_Result = tuple[RecipientOutcome, DeliveryError | None]


class DeliveryReport(BaseModel):
    """Per-recipient result of one `deliver` call (only returned when nothing is left to retry)."""

    model_config = ConfigDict(frozen=True)

    key: str
    outcomes: tuple[RecipientOutcome, ...]

    def outcome_for(self, recipient: str) -> Outcome | None:
        return next((o.outcome for o in self.outcomes if o.recipient == recipient), None)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# The recipient's personal portal link, where they have one (mentor and mentee).
LinkFor = Callable[[Notification, Recipient], str | None]


class Deliverer:
    """Routes each recipient to their preferred channel, or to the fallback when the program
    has not configured it, and keeps the delivery log honest.

    `clock` is the activity's clock (wall time): it dates claims and decides expiry.
    """

    def __init__(
        self,
        channels_config: ChannelsConfig,
        delivery_log: DeliveryLog,
        *,
        clock: Callable[[], datetime] = _utc_now,
        link_for: LinkFor | None = None,
    ) -> None:
        self.config = channels_config
        self._link_for = link_for
        self._log = delivery_log
        self._claims: _Claims = (
            _LedgerClaims(delivery_log)
            if isinstance(delivery_log, ClaimingDeliveryLog)
            else _LocalClaims(delivery_log)
        )
        self._channels = build_channels(channels_config)
        self._clock = clock
        # Attempts of this process by (key, recipient), kept here until they end, so that
        # nobody who stops waiting can make one vanish mid-send.
        self._in_flight: dict[tuple[str, str], asyncio.Task[_Result]] = {}
        # Sent, but the log was unreachable to say so: the next attempt records, not sends.
        self._sent_unrecorded: set[tuple[str, str]] = set()

    def channel_for(self, recipient: Recipient) -> ChannelName:
        preferred = recipient.person.channel
        return preferred if preferred in self._channels else self.config.fallback

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def drain(self) -> None:
        """Wait for every attempt still sending (a worker shutting down calls this)."""
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def deliver(self, notification: Notification) -> DeliveryReport:
        """Try every recipient, then raise if any failed.

        Temporary failures win over permanent ones: the retry they trigger skips everyone
        already delivered, and a permanent failure still surfaces once the rest are through.
        Cancelling this only stops the waiting: a send already started runs to its end.
        """
        bound = log.bind(
            relationship_id=notification.relationship_id,
            notification_key=notification.key,
            kind=notification.kind.value,
        )
        outcomes: list[RecipientOutcome] = []
        errors: list[DeliveryError] = []
        for recipient in notification.recipients:
            outcome, error = await self._deliver_one(notification, recipient, bound)
            outcomes.append(outcome)
            if error is not None:
                errors.append(error)
        report = DeliveryReport(key=notification.key, outcomes=tuple(outcomes))
        if errors:
            raise _combined(errors, report)
        return report

    async def _deliver_one(
        self, notification: Notification, recipient: Recipient, bound: Any
    ) -> _Result:
        ident = (notification.key, recipient_ref(recipient))
        attempt = self._in_flight.get(ident)
        if attempt is None:
            attempt = asyncio.create_task(self._attempt(notification, recipient, bound))
            self._in_flight[ident] = attempt
            attempt.add_done_callback(partial(self._settled, ident, bound))
        else:
            bound.info("notification.joined_attempt_in_flight", recipient=ident[1])
        return await asyncio.shield(attempt)

    def _settled(self, ident: tuple[str, str], bound: Any, attempt: asyncio.Task[_Result]) -> None:
        if self._in_flight.get(ident) is attempt:
            del self._in_flight[ident]
        if not attempt.cancelled() and attempt.exception() is not None:
            bound.warning(
                "notification.attempt_crashed", recipient=ident[1], error=repr(attempt.exception())
            )

    async def _attempt(
        self, notification: Notification, recipient: Recipient, bound: Any
    ) -> _Result:
        key, ref = notification.key, recipient_ref(recipient)
        name = self.channel_for(recipient)
        channel = self._channels[name]
        bound = bound.bind(recipient=ref, channel=name.value)
        if (key, ref) in self._sent_unrecorded:
            await self._record_delivered(key, ref, name, "")
            bound.info("notification.skipped_already_delivered")
            return _outcome(ref, name, Outcome.SKIPPED_ALREADY_DELIVERED), None

        now, lease = self._clock(), timedelta(seconds=channel.send_deadline + LEASE_MARGIN_SECONDS)
        token = f"claim {uuid.uuid4().hex}"
        claim = await asyncio.to_thread(
            self._claims.claim, key, ref, name.value, token, now, lease, notification.expires_at
        )
        if claim.state == DELIVERED:
            bound.info("notification.skipped_already_delivered")
            return _outcome(ref, name, Outcome.SKIPPED_ALREADY_DELIVERED), None
        if claim.state == EXPIRED:
            expired_at = notification.expires_at.isoformat() if notification.expires_at else "?"
            bound.info("notification.expired", expires_at=expired_at)
            detail = f"not sent: it expired at {expired_at}"
            return _outcome(ref, name, Outcome.EXPIRED, detail), None
        if claim.state == BUSY:
            return self._busy(ref, name, claim, now, lease, bound)
        if claim.taken_over:
            # The one at-least-once window: the holder died mid-send, it may have arrived.
            bound.warning(
                "notification.resending_after_an_abandoned_attempt", attempts=claim.attempts
            )
        return await self._send(notification, recipient, channel, name, token, bound)

    def _busy(
        self,
        ref: str,
        name: ChannelName,
        claim: DeliveryClaim,
        now: datetime,
        lease: timedelta,
        bound: Any,
    ) -> _Result:
        since = claim.since or now
        left = (since + lease - now).total_seconds()
        wait = min(max(left, MIN_RETRY_SECONDS), lease.total_seconds())
        detail = (
            f"another attempt has been sending it since {since.isoformat(timespec='seconds')}; "
            f"it is checked again in {wait:.0f} s"
        )
        bound.info("notification.in_progress_elsewhere", retry_in=round(wait, 1))
        return _outcome(ref, name, Outcome.IN_PROGRESS, detail), DeliveryInProgress(
            detail, retry_after=wait
        )

    async def _send(
        self,
        notification: Notification,
        recipient: Recipient,
        channel: Channel,
        name: ChannelName,
        token: str,
        bound: Any,
    ) -> _Result:
        """Holding the claim: send, then finish the claim however the send ended."""
        key, ref = notification.key, recipient_ref(recipient)

        async def release(detail: str, permanent: bool) -> None:
            await asyncio.to_thread(
                self._claims.failed, key, ref, name.value, token, detail, permanent
            )

        try:
            contact = self.config.contacts.for_notification(notification)
            link = self._link_for(notification, recipient) if self._link_for else None
            rendered = render(notification, recipient, contact, link)
            await channel.send(
                OutgoingMessage(
                    notification=notification,
                    recipient=recipient,
                    rendered=rendered,
                    contact=contact,
                )
            )
        except PermanentDeliveryError as exc:
            await release(str(exc), True)
            bound.warning("notification.failed", permanent=True, error=str(exc))
            return _outcome(ref, name, Outcome.FAILED, str(exc)), exc
        except TemporaryDeliveryError as exc:
            await release(str(exc), False)
            bound.warning("notification.failed", permanent=False, error=str(exc))
            return _outcome(ref, name, Outcome.FAILED, str(exc)), exc
        except Exception as exc:
            # A bug (a template, a channel) before or instead of the send: give the claim
            # back so the retry that follows the crash is not kept waiting for the lease.
            # (Cancellation is not caught: only a dying event loop cancels an attempt, and
            # then its send may still be on the wire, so the claim stays until it expires.)
            await release(f"{type(exc).__name__}: {exc}", False)
            raise
        self._sent_unrecorded.add((key, ref))
        await self._record_delivered(key, ref, name, token)
        bound.info("notification.delivered")
        return _outcome(ref, name, Outcome.DELIVERED), None

    async def _record_delivered(self, key: str, ref: str, name: ChannelName, token: str) -> None:
        await asyncio.to_thread(self._claims.delivered, key, ref, name.value, token)
        self._sent_unrecorded.discard((key, ref))


class _Claims(Protocol):
    def claim(
        self,
        key: str,
        ref: str,
        channel: str,
        token: str,
        now: datetime,
        lease: timedelta,
        expires_at: datetime | None,
    ) -> DeliveryClaim: ...

    def delivered(self, key: str, ref: str, channel: str, token: str) -> None: ...

    def failed(
        self, key: str, ref: str, channel: str, token: str, detail: str, permanent: bool
    ) -> None: ...


class _LedgerClaims:
    """Claims in the shared delivery log: one attempt at a time across every worker."""

    def __init__(self, delivery_log: ClaimingDeliveryLog) -> None:
        self._log = delivery_log

    def claim(
        self,
        key: str,
        ref: str,
        channel: str,
        token: str,
        now: datetime,
        lease: timedelta,
        expires_at: datetime | None,
    ) -> DeliveryClaim:
        return self._log.claim_delivery(
            key,
            ref,
            channel,
            token=token,
            now=now,
            stale_before=now - lease,
            expires_at=expires_at,
        )

    def delivered(self, key: str, ref: str, channel: str, token: str) -> None:
        self._log.finish_delivery(key, ref, token, DELIVERED)

    def failed(
        self, key: str, ref: str, channel: str, token: str, detail: str, permanent: bool
    ) -> None:
        self._log.finish_delivery(key, ref, token, FAILED, detail)


class _LocalClaims:
    """For a log that cannot hold claims (a test's dictionary): the in-flight join in
    `Deliverer` still keeps this process from sending twice. A temporary failure leaves no
    trace here, as it always did."""

    def __init__(self, delivery_log: DeliveryLog) -> None:
        self._log = delivery_log

    def claim(
        self,
        key: str,
        ref: str,
        channel: str,
        token: str,
        now: datetime,
        lease: timedelta,
        expires_at: datetime | None,
    ) -> DeliveryClaim:
        status = self._log.delivery_status(key, ref)
        if status in (DELIVERED, EXPIRED):
            return DeliveryClaim(state=status)
        if expires_at is not None and now >= expires_at:
            detail = f"not sent: it expired at {expires_at.isoformat()}"
            self._log.record_delivery(key, ref, channel, EXPIRED, detail)
            return DeliveryClaim(state=EXPIRED)
        return DeliveryClaim(state=CLAIMED, since=now)

    def delivered(self, key: str, ref: str, channel: str, token: str) -> None:
        self._log.record_delivery(key, ref, channel, DELIVERED)

    def failed(
        self, key: str, ref: str, channel: str, token: str, detail: str, permanent: bool
    ) -> None:
        if permanent:
            self._log.record_delivery(key, ref, channel, FAILED, detail)


def build_channels(config: ChannelsConfig) -> dict[ChannelName, Channel]:
    """One instance per configured channel, shared by all deliveries of this worker."""
    channels: dict[ChannelName, Channel] = {ChannelName.OUTBOX: OutboxChannel(config.outbox_path)}
    if config.smtp is not None:
        channels[ChannelName.EMAIL] = SmtpChannel(config.smtp)
    if config.webhook is not None:
        channels[ChannelName.WEBHOOK] = WebhookChannel(config.webhook)
    return channels


def _outcome(
    ref: str, channel: ChannelName, outcome: Outcome, detail: str = ""
) -> RecipientOutcome:
    return RecipientOutcome(recipient=ref, channel=channel.value, outcome=outcome, detail=detail)


def _combined(errors: list[DeliveryError], report: DeliveryReport) -> DeliveryError:
    """One error for the activity, naming every recipient that failed and why."""
    failed = "; ".join(
        f"{o.recipient} via {o.channel}: {o.detail}"
        for o in report.outcomes
        if o.outcome in (Outcome.FAILED, Outcome.IN_PROGRESS)
    )
    temporary = [e for e in errors if isinstance(e, TemporaryDeliveryError)]
    if temporary:
        hints = [e.retry_after for e in temporary if e.retry_after is not None]
        combined: DeliveryError = TemporaryDeliveryError(
            f"notification {report.key} not yet delivered to everyone: {failed}",
            retry_after=max(hints) if hints else None,
        )
        cause: DeliveryError = temporary[0]
    else:
        combined = PermanentDeliveryError(f"notification {report.key} undeliverable: {failed}")
        cause = errors[0]
    combined.__cause__ = cause
    return combined
