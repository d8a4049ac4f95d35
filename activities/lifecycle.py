"""The lifecycle's side effects as Temporal activities: the ledger and notifications.

Both are idempotent by business identity: events by their key (relationship + sequence),
notifications by their key and recipient, so a retry or a replay never does a thing twice.
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import PermanentDeliveryError
from activities.delivery import Deliverer
from ledger.chain import LedgerEntry
from ledger.records import to_entry
from ledger.store import IntegrityConflict, Ledger
from mentorship.notifications import Notification
from workflows.contract import (
    LEDGER_INTEGRITY_ERROR,
    RECORD_EVENTS,
    SEND_NOTIFICATION,
    BatchResult,
    EventBatch,
)

log = structlog.get_logger("mentorflow.activities")

# Past this a first delivery attempt is left to `send_notification`, which retries durably;
# its first retry comes after the channel's own timeout, so the two never send at once.
FIRST_ATTEMPT_SECONDS = 5.0


class LifecycleActivities:
    def __init__(self, ledger: Ledger, deliverer: Deliverer) -> None:
        self.ledger = ledger
        self.deliverer = deliverer

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
        await asyncio.gather(*(self._first_attempt(n, result) for n in batch.notifications))
        log.debug(
            "events recorded",
            relationship_id=batch.relationship_id,
            added=added,
            last_seq=entries[-1].seq if entries else None,
            retry=len(result.retry),
        )
        return result

    def _append(self, entries: list[LedgerEntry]) -> int:
        try:
            return self.ledger.append(entries)
        except IntegrityConflict as conflict:
            # Retrying cannot fix a broken chain: the workflow shows "ledger blocked" instead.
            raise ApplicationError(
                str(conflict), type=LEDGER_INTEGRITY_ERROR, non_retryable=True
            ) from conflict

    async def _first_attempt(self, notification: Notification, result: BatchResult) -> None:
        """One bounded try: a slow mail server must not hold the ledger write or the workflow."""
        try:
            await asyncio.wait_for(self.deliverer.deliver(notification), FIRST_ATTEMPT_SECONDS)
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
        try:
            await self.deliverer.deliver(notification)
        except PermanentDeliveryError as failure:
            raise ApplicationError(
                str(failure), type="PermanentDeliveryError", non_retryable=True
            ) from failure
