"""The lifecycle's side effects as Temporal activities: the ledger and notifications.

Both are idempotent by business identity: events by their key (relationship + sequence),
notifications by their key and recipient, so a retry or a replay never does a thing twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import PermanentDeliveryError, TemporaryDeliveryError
from activities.delivery import Deliverer
from ledger.chain import LedgerEntry
from ledger.checkpoints import CheckpointStore
from ledger.records import to_entry
from ledger.store import IntegrityConflict, Ledger
from ledger.verification import TERMINAL_TYPES
from mentorship.notifications import Notification
from workflows.contract import (
    LEDGER_INTEGRITY_ERROR,
    RECORD_EVENTS,
    SEND_NOTIFICATION,
    BatchResult,
    EventBatch,
)

log = structlog.get_logger("mentorflow.activities")

# Past this the ledger activity stops waiting for a first delivery attempt and hands the
# notification to `send_notification`. The send itself is not cut: it finishes in the
# background, holding its claim, and the durable path joins it (or waits for its lease).
FIRST_ATTEMPT_SECONDS = 5.0
# The longest a receiver's Retry-After may push a retry back; NOTIFY_RETRY's own ceiling.
MAX_RETRY_DELAY = timedelta(hours=1)


class LifecycleActivities:
    def __init__(
        self,
        ledger: Ledger,
        deliverer: Deliverer,
        *,
        first_attempt_seconds: float = FIRST_ATTEMPT_SECONDS,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.ledger = ledger
        self.deliverer = deliverer
        self.first_attempt_seconds = first_attempt_seconds
        self.checkpoints = checkpoints

    @activity.defn(name=RECORD_EVENTS)
    async def record_events(self, batch: EventBatch) -> BatchResult:
        """Append the events, then try each notification once.

        One activity per decision keeps history small: in the common case the events and
        their notifications cost one activity. A delivery that fails here is not retried
        here (that would hold the ledger write hostage to a mail server); it goes back to the
        workflow, which retries it durably with `send_notification`. Only a failed ledger
        write fails this activity.
        """
        entries = [to_entry(r) for r in batch.events]
        added = await asyncio.to_thread(self._append, entries) if entries else 0
        head = await asyncio.to_thread(self.ledger.hash_of, entries[-1].key) if entries else None
        result = BatchResult(recorded=added, head=head)
        if any(e.type in TERMINAL_TYPES for e in entries):
            await asyncio.to_thread(self._checkpoint, batch.relationship_id)
        await asyncio.gather(*(self._first_attempt(n, result) for n in batch.notifications))
        log.debug(
            "events recorded",
            relationship_id=batch.relationship_id,
            added=added,
            last_seq=entries[-1].seq if entries else None,
            retry=len(result.retry),
        )
        return result

    def _checkpoint(self, relationship_id: str) -> None:
        """A concluded relationship's final head, signed outside the ledger at once; best
        effort (the scheduled checkpoint signs it too), never a reason to fail the write."""
        if self.checkpoints is None or self.ledger.seal is None:
            return
        try:
            self.checkpoints.write(self.ledger, self.ledger.seal, [relationship_id])
        except (OSError, SQLAlchemyError) as err:
            log.warning("checkpoint not written", relationship_id=relationship_id, error=str(err))

    def _append(self, entries: list[LedgerEntry]) -> int:
        try:
            return self.ledger.append(entries)
        except IntegrityConflict as conflict:
            # Retrying cannot fix a broken chain: the workflow shows "ledger blocked" instead.
            raise ApplicationError(
                str(conflict), type=LEDGER_INTEGRITY_ERROR, non_retryable=True
            ) from conflict

    async def _first_attempt(self, notification: Notification, result: BatchResult) -> None:
        """One bounded wait: a slow mail server must not hold the ledger write or the workflow.

        The timeout only stops the waiting. Each send runs as the deliverer's own task, so one
        still talking to the relay finishes and records its outcome; `send_notification`
        then finds it delivered, joins it, or waits out its claim, and never sends beside it.
        """
        try:
            await asyncio.wait_for(self.deliverer.deliver(notification), self.first_attempt_seconds)
        except PermanentDeliveryError as failure:
            result.failed[notification.key] = str(failure)
        except Exception as failure:  # handed to the durable path, which retries and reports
            log.warning(
                "notification will be retried",
                relationship_id=notification.relationship_id,
                key=notification.key,
                error=f"{type(failure).__name__}: {failure}",
            )
            result.retry.append(notification.key)

    @activity.defn(name=SEND_NOTIFICATION)
    async def send_notification(self, notification: Notification) -> None:
        """Retried by Temporal until delivered; an expired notification ends it quietly.

        A receiver's retry hint (webhook Retry-After, an SMTP 4xx that names a wait) and a
        claim held by another attempt (the rest of its lease) set the next retry's delay.
        """
        try:
            await self.deliverer.deliver(notification)
        except PermanentDeliveryError as failure:
            raise ApplicationError(
                str(failure), type="PermanentDeliveryError", non_retryable=True
            ) from failure
        except TemporaryDeliveryError as failure:
            raise ApplicationError(
                str(failure),
                type="TemporaryDeliveryError",
                next_retry_delay=retry_delay(failure.retry_after),
            ) from failure

    async def drain(self) -> None:
        """Let sends that outlived their first attempt finish (before the worker exits)."""
        await self.deliverer.drain()


def retry_delay(retry_after: float | None) -> timedelta | None:
    """None leaves the retry policy's backoff in charge."""
    if retry_after is None:
        return None
    return min(timedelta(seconds=max(retry_after, 1.0)), MAX_RETRY_DELAY)
