"""Deliver a notification to each recipient exactly once, however often the activity runs.

Temporal retries activities and replays workflows; the delivery log (the SQL ledger in
production) remembers who already got which notification, so a retry only sends what is
still missing. Failures are sorted into "try again" and "give up", the only two answers the
workflow can act on.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

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
from mentorship.notifications import Notification, Recipient
from mentorship.participants import Channel as ChannelName

__all__ = [
    "DELIVERED",
    "FAILED",
    "Deliverer",
    "DeliveryError",
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


class DeliveryLog(Protocol):
    """What delivery needs from the ledger: who already has a notification, and a record."""

    def delivery_status(self, key: str, recipient: str) -> str | None: ...

    def record_delivery(
        self, key: str, recipient: str, channel: str, status: str, detail: str = ""
    ) -> None: ...


class Outcome(StrEnum):
    DELIVERED = "delivered"
    SKIPPED_ALREADY_DELIVERED = "skipped_already_delivered"
    FAILED = "failed"


class RecipientOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    recipient: str
    channel: str
    outcome: Outcome
    detail: str = ""


class DeliveryReport(BaseModel):
    """Per-recipient result of one `deliver` call (only returned when nothing is left to retry)."""

    model_config = ConfigDict(frozen=True)

    key: str
    outcomes: tuple[RecipientOutcome, ...]

    def outcome_for(self, recipient: str) -> Outcome | None:
        return next((o.outcome for o in self.outcomes if o.recipient == recipient), None)


class Deliverer:
    """Routes each recipient to their preferred channel, or to the fallback when the program
    has not configured it, and keeps the delivery log honest."""

    def __init__(self, channels_config: ChannelsConfig, delivery_log: DeliveryLog) -> None:
        self.config = channels_config
        self._log = delivery_log
        self._channels = build_channels(channels_config)

    def channel_for(self, recipient: Recipient) -> ChannelName:
        preferred = recipient.person.channel
        return preferred if preferred in self._channels else self.config.fallback

    async def deliver(self, notification: Notification) -> DeliveryReport:
        """Try every recipient, then raise if any failed.

        Temporary failures win over permanent ones: the retry they trigger skips everyone
        already delivered, and a permanent failure still surfaces once the rest are through.
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
    ) -> tuple[RecipientOutcome, DeliveryError | None]:
        ref = recipient_ref(recipient)
        name = self.channel_for(recipient)
        bound = bound.bind(recipient=ref, channel=name.value)
        if self._log.delivery_status(notification.key, ref) == DELIVERED:
            bound.info("notification.skipped_already_delivered")
            return _outcome(ref, name, Outcome.SKIPPED_ALREADY_DELIVERED), None
        message = OutgoingMessage(
            notification=notification, recipient=recipient, rendered=render(notification, recipient)
        )
        try:
            await self._channels[name].send(message)
        except PermanentDeliveryError as exc:
            self._log.record_delivery(notification.key, ref, name.value, FAILED, str(exc))
            bound.warning("notification.failed", permanent=True, error=str(exc))
            return _outcome(ref, name, Outcome.FAILED, str(exc)), exc
        except TemporaryDeliveryError as exc:
            bound.warning("notification.failed", permanent=False, error=str(exc))
            return _outcome(ref, name, Outcome.FAILED, str(exc)), exc
        self._log.record_delivery(notification.key, ref, name.value, DELIVERED)
        bound.info("notification.delivered")
        return _outcome(ref, name, Outcome.DELIVERED), None


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
        if o.outcome is Outcome.FAILED
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
