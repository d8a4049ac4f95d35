"""MentorshipWorkflow: one mentor-mentee relationship, from onboarding to its conclusion.

The workflow owns no rules. Commands arrive as updates; the validator asks the domain
whether the command is acceptable (nothing reaches history if not); the handler asks the
domain for the events, folds them, queues them for the ledger and dispatches notifications.
Timers come from the domain too: the run loop sleeps until the next deadline and ticks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from ledger.chain import GENESIS_HASH, chain_head
    from ledger.records import to_entry
    from mentorship import commands as c
    from mentorship.decider import Outcome, Rejected
    from mentorship.decisions import decide, start
    from mentorship.events import Recorded, ReviewDecided
    from mentorship.notifications import Notification, NotificationKind, Recipient
    from mentorship.participants import Role
    from mentorship.revisions import Revision, Rules
    from mentorship.state import RelationshipState
    from mentorship.timers import next_deadline, next_wake, tick
    from mentorship.waiting import waiting_for
    from workflows import search_attributes as sa
    from workflows.contract import (
        DESCRIPTIONS,
        LEDGER_INTEGRITY_ERROR,
        RECORD_EVENTS,
        RECORDING_WAIT_SECONDS,
        REPAIR_LEDGER,
        SEND_NOTIFICATION,
        STATUS_DESCRIPTION,
        UPDATES,
        BatchResult,
        EventBatch,
        RelationshipInput,
        RelationshipResult,
        RepairLedger,
        StatusView,
        UpdateResult,
    )
    from workflows.log import log

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
    non_retryable_error_types=["PermanentDeliveryError"],
)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[LEDGER_INTEGRITY_ERROR],
)
# v0.2: the ledger is written beside the run loop, so an outage holds neither timers nor
# callers: the first write of a batch gets a few seconds, then it retries durably.
BACKGROUND_LEDGER = "workflow-0.2-ledger-in-background"
FIRST_WRITE = timedelta(seconds=RECORDING_WAIT_SECONDS)


class LedgerDrift(RuntimeError):
    """The ledger holds a different chain than this code decided: the rules changed under a
    running relationship without `workflow.patched`. Raised to fail the workflow task (it is
    retried, and shows in Temporal's UI), never the relationship."""


class LedgerBlocked(Exception):
    """The ledger refuses this relationship's events, and retrying cannot change that."""


def _action(command: type[c.Command]) -> Any:
    """One update per participant or operator action, each with its validator."""
    name = UPDATES[command]

    async def handler(self: MentorshipWorkflow, cmd: Any) -> UpdateResult:
        return await self._handle(cmd)

    def validator(self: MentorshipWorkflow, cmd: Any) -> None:
        self._check(cmd)

    handler.__name__ = name
    handler.__annotations__ = {"cmd": command, "return": UpdateResult}
    validator.__annotations__ = {"cmd": command, "return": None}
    update = workflow.update(name=name, description=DESCRIPTIONS[name])(handler)
    update.validator(validator)
    return update


def _write_summary(batch: EventBatch) -> str:
    """What Temporal's UI shows for a ledger write: "record 3 events, notify mentor, mentee"."""
    said = f"record {len(batch.events)} event{'s' if len(batch.events) != 1 else ''}"
    roles = sorted({r.role.value for n in batch.notifications for r in n.recipients})
    return f"{said}, notify {', '.join(roles)}" if roles else said


def _send_summary(notification: Notification) -> str:
    roles = ", ".join(r.role.value for r in notification.recipients)
    return f"send {notification.kind.value.replace('_', ' ')} to {roles} (retrying)"


@workflow.defn
class MentorshipWorkflow:
    @workflow.init
    def __init__(self, input: RelationshipInput) -> None:
        self._input = input
        self._run = input.run
        self._pending: list[Recorded] = []
        self._outbox: list[Notification] = []
        self._in_flight = 0
        self._wake = False
        self._boundary = False
        self._flushing = asyncio.Lock()
        self._indexed: dict[str, object] = {}
        self._alarm: asyncio.Task[None] | None = None
        self._armed_for: datetime | None = None
        # Decided once per run: see mentorship/revisions.py and the README's "Changing code".
        self._rules = Rules(r for r in Revision if workflow.patched(r.value))
        self._background = workflow.patched(BACKGROUND_LEDGER)
        self._head = input.ledger_head
        self._blocked: str | None = None
        self._ledger_down = False
        self._writer: asyncio.Task[None] | None = None
        self._drift: LedgerDrift | None = None
        if input.state is None:
            self._state = RelationshipState(id=input.relationship_id)
            self._recorded_seq = 0
            self._commit(start(input.request, input.relationship_id, workflow.now(), self._rules))
        else:
            self._state = input.state
            self._recorded_seq = input.state.seq

    @workflow.run
    async def run(self, input: RelationshipInput) -> RelationshipResult:
        log("relationship running", run=self._run, phase=self._state.phase.value)
        while not self._state.finished:
            await self._record()
            if self._ready_to_continue():
                await self._continue_as_new()
            if self._blocked:
                await workflow.wait_condition(lambda: self._blocked is None)
                continue
            await self._sleep_until_due()
            if self._drift is not None:
                raise self._drift
            if self._blocked is None:
                self._commit(tick(self._state, workflow.now(), self._rules))
        self._disarm()
        await self._drain()
        assert self._state.outcome is not None
        log("relationship concluded", outcome=self._state.outcome.value)
        return RelationshipResult(
            relationship_id=self._state.id,
            outcome=self._state.outcome,
            summary=self._state.conclusion.summary if self._state.conclusion else None,
            events=self._state.seq,
            head=self._head,
        )

    # Queries

    @workflow.query(description=STATUS_DESCRIPTION)
    def status(self) -> StatusView:
        return StatusView(
            state=self._state,
            waiting_for=waiting_for(self._state),
            next_deadline=next_deadline(self._state, workflow.now(), self._rules),
            run=self._run,
            ledger_pending=len(self._pending),
            ledger_blocked=self._blocked,
        )

    # Updates: participant actions

    submit_goals = _action(c.SubmitGoals)
    submit_commitment = _action(c.SubmitCommitment)
    confirm_agreement = _action(c.ConfirmAgreement)
    submit_agenda = _action(c.SubmitAgenda)
    log_meeting = _action(c.LogMeeting)
    reschedule_meeting = _action(c.RescheduleMeeting)
    report_progress = _action(c.ReportProgress)
    give_mentor_feedback = _action(c.GiveMentorFeedback)
    give_mentee_feedback = _action(c.GiveMenteeFeedback)
    request_review = _action(c.RequestReview)
    submit_review = _action(c.SubmitReview)
    conclude = _action(c.Conclude)
    submit_reflection = _action(c.SubmitReflection)

    # Updates: operator actions

    pause = _action(c.Pause)
    resume = _action(c.Resume)
    extend_end_date = _action(c.ExtendEndDate)
    change_cadence = _action(c.ChangeCadence)
    cancel = _action(c.Cancel)

    @workflow.update(name=REPAIR_LEDGER, description=DESCRIPTIONS[REPAIR_LEDGER])
    async def repair_ledger(self, cmd: RepairLedger) -> UpdateResult:
        """The operator fixed what the ledger refused: retry the events that wait."""
        log("ledger repair", actor=str(cmd.actor), note=cmd.note, pending=len(self._pending))
        self._blocked = None
        self._index()
        self._wake = True
        seq, phase = self._state.seq, self._state.phase.value
        await self._await_recording(seq)
        if self._blocked is not None:
            raise ApplicationError(f"ledger still blocked: {self._blocked}", non_retryable=True)
        return self._result(seq, phase, [])

    @repair_ledger.validator
    def _check_repair(self, cmd: RepairLedger) -> None:
        if cmd.actor.role is not Role.OPERATOR:
            raise ValueError("actor: only the program's operator can repair a relationship")
        if self._blocked is None:
            raise ValueError("nothing to repair: the ledger is taking this relationship's events")

    # Command handling

    def _check(self, cmd: c.Command) -> None:
        if self._blocked is not None:
            raise ValueError(
                f"ledger blocked: {self._blocked}; nothing was applied. Fix the cause, then run "
                f"`mentorflow repair {self._state.id}`"
            )
        self._decide(cmd)

    def _decide(self, cmd: c.Command) -> Outcome:
        return decide(self._state, cmd, workflow.now(), self._rules)

    async def _handle(self, cmd: c.Command) -> UpdateResult:
        try:
            outcome = self._decide(cmd)
        except Rejected as rejected:
            raise ApplicationError(str(rejected), type="Rejected", non_retryable=True) from None
        self._commit(outcome)
        log(
            "command applied", command=type(cmd).__name__, actor=str(cmd.actor), seq=self._state.seq
        )
        seq, phase = self._state.seq, self._state.phase.value
        if self._background:
            await self._await_recording(seq)
        else:
            await self._flush()  # the caller hears back once the ledger holds its events
        self._wake = True  # the run loop may now be free to continue as new
        return self._result(seq, phase, [r.event.type for r in outcome.recorded])

    def _result(self, seq: int, phase: str, events: list[str]) -> UpdateResult:
        """As of this command's own events, whatever else happened while they were written."""
        return UpdateResult(seq=seq, events=events, phase=phase, recorded=self._recorded_seq >= seq)

    async def _await_recording(self, seq: int) -> None:
        """Until the ledger holds event `seq`, or it is known to be down or blocked: the first
        write of a batch is bounded (FIRST_WRITE), so no caller waits on an outage."""
        self._start_writer()
        await workflow.wait_condition(
            lambda: (
                self._recorded_seq >= seq
                or self._ledger_down
                or self._blocked is not None
                or self._drift is not None
            )
        )
        if self._drift is not None:
            raise self._drift

    def _commit(self, outcome: Outcome) -> None:
        if not outcome.changed:
            return
        self._state = outcome.state
        self._pending.extend(outcome.recorded)
        if any(isinstance(r.event, ReviewDecided) for r in outcome.recorded):
            self._boundary = True
        self._outbox.extend(outcome.notifications)
        self._index()
        self._wake = True

    # The run loop

    async def _sleep_until_due(self) -> None:
        """Wait for the next deadline or for a handler to change something."""
        self._wake = False
        now = workflow.now()
        due = next_wake(self._state, now, self._rules)
        deadline, why = due if due else (None, None)
        if deadline is not None and deadline <= now:
            return
        self._arm(deadline, now, why)
        await workflow.wait_condition(lambda: self._wake or self._alarm_rang())

    def _arm(self, deadline: datetime | None, now: datetime, why: str | None = None) -> None:
        """Keep one durable timer, replaced only when the deadline moves.

        Most updates leave the next deadline where it was; cancelling and restarting the timer
        on each would add two history events per update for nothing.
        """
        if deadline == self._armed_for and self._alarm is not None and not self._alarm.done():
            return
        self._disarm()
        self._armed_for = deadline
        if deadline is not None:
            self._alarm = asyncio.create_task(workflow.sleep(deadline - now, summary=why))

    def _disarm(self) -> None:
        if self._alarm is not None and not self._alarm.done():
            self._alarm.cancel()
        self._alarm, self._armed_for = None, None

    def _alarm_rang(self) -> bool:
        return self._alarm is not None and self._alarm.done()

    async def _drain(self) -> None:
        """Let handlers, the ledger and every delivery finish before the run ends."""
        while True:
            await workflow.wait_condition(
                lambda: self._in_flight == 0 and workflow.all_handlers_finished()
            )
            await self._flush()  # awaited, in the background mode too: nothing is left behind
            if self._drift is not None:
                raise self._drift
            if self._blocked is not None:
                await workflow.wait_condition(lambda: self._blocked is None)
                continue
            if self._in_flight == 0 and workflow.all_handlers_finished():
                return

    def _ready_to_continue(self) -> bool:
        info = workflow.info()
        too_long = info.get_current_history_length() >= self._state.policy.history_event_limit
        wanted = self._boundary or too_long or info.is_continue_as_new_suggested()
        quiet = not self._pending and not self._outbox and self._in_flight == 0
        idle = self._writer is None or self._writer.done()
        healthy = self._blocked is None and idle
        return wanted and quiet and healthy and workflow.all_handlers_finished()

    async def _continue_as_new(self) -> None:
        self._disarm()
        await self._drain()
        log("continuing as new", run=self._run, seq=self._state.seq)
        workflow.continue_as_new(
            RelationshipInput(
                relationship_id=self._state.id,
                request=self._input.request,
                state=self._state,
                run=self._run + 1,
                ledger_head=self._head,
            )
        )

    # Side effects

    async def _record(self) -> None:
        """Runs before v0.2 wait for the ledger in the run loop; later ones write beside it."""
        if self._background:
            self._start_writer()
        else:
            await self._flush()

    def _start_writer(self) -> None:
        idle = self._writer is None or self._writer.done()
        if idle and (self._pending or self._outbox) and self._blocked is None:
            self._writer = asyncio.create_task(self._write_queued())

    async def _write_queued(self) -> None:
        try:
            await self._flush()
        finally:
            self._wake = True  # the run loop may continue as new once the writer is idle

    async def _flush(self) -> None:
        """Record queued events and first-attempt their notifications, in order, in batches."""
        async with self._flushing:
            while (self._pending or self._outbox) and self._blocked is None:
                events, notifications = list(self._pending), list(self._outbox)
                batch = EventBatch(
                    relationship_id=self._state.id, events=events, notifications=notifications
                )
                try:
                    result = await self._write(batch)
                except LedgerBlocked as blocked:
                    self._block(str(blocked))
                    return
                try:
                    self._check_head(events, result)
                except LedgerDrift as drift:
                    if not self._background:
                        raise
                    self._drift, self._wake = drift, True  # raised by the run loop
                    return
                del self._pending[: len(events)]
                del self._outbox[: len(notifications)]
                if events:
                    self._recorded_seq = events[-1].seq
                self._follow_up(notifications, result)
                self._wake = True

    async def _write(self, batch: EventBatch) -> BatchResult:
        """One batch into the ledger. From v0.2 the first try is bounded: if the ledger is
        down, callers hear "recording pending" and the batch is retried durably."""
        if self._background and not self._ledger_down:
            try:
                return await self._execute_write(batch, schedule_to_close=FIRST_WRITE)
            except ActivityError as failure:
                self._raise_if_integrity(failure)
                self._ledger_down = True
                log("ledger unavailable, retrying durably", error=str(failure.cause or failure))
        try:
            result = await self._execute_write(batch)
        except ActivityError as failure:
            self._raise_if_integrity(failure)
            raise
        self._ledger_down = False
        return result

    async def _execute_write(
        self, batch: EventBatch, schedule_to_close: timedelta | None = None
    ) -> BatchResult:
        # A regular activity, not a local one: its input is written to history before it
        # runs, so a retried workflow task can never append a different event under a key an
        # earlier, uncommitted attempt already used.
        result: BatchResult = await workflow.execute_activity(
            RECORD_EVENTS,
            batch,
            result_type=BatchResult,
            summary=_write_summary(batch),
            # A write plus first delivery attempts capped at a few seconds: a worker lost
            # mid-write is noticed quickly and the batch retried elsewhere.
            start_to_close_timeout=timedelta(seconds=20),
            schedule_to_close_timeout=schedule_to_close,
            retry_policy=LEDGER_RETRY,
        )
        return result

    @staticmethod
    def _raise_if_integrity(failure: ActivityError) -> None:
        cause = failure.cause
        if isinstance(cause, ApplicationError) and cause.type == LEDGER_INTEGRITY_ERROR:
            raise LedgerBlocked(cause.message) from None

    def _check_head(self, events: list[Recorded], result: BatchResult) -> None:
        """The ledger's head must be the one these events make: the determinism contract."""
        if result.head is None or not events:  # recorded before v0.2, or nothing appended
            return
        previous = GENESIS_HASH if events[0].seq == 1 else self._head
        if previous is not None:
            expected = chain_head(previous, (to_entry(r) for r in events))
            if expected != result.head:
                raise LedgerDrift(
                    f"ledger head after event {events[-1].seq} is {result.head[:12]}, but this "
                    f"code decided {expected[:12]}: the rules changed without workflow.patched"
                )
        self._head = result.head

    def _block(self, reason: str) -> None:
        log("ledger blocked", reason=reason, pending=len(self._pending))
        self._blocked = reason
        self._index()
        self._wake = True
        if self._state.operator is None:
            return
        self._dispatch(
            Notification(
                key=f"{self._state.id}:ledger-blocked-{self._recorded_seq + 1}",
                kind=NotificationKind.LEDGER_BLOCKED,
                relationship_id=self._state.id,
                program=self._state.program,
                recipients=(Recipient(role=Role.OPERATOR, person=self._state.operator),),
                context={
                    "program": self._state.program,
                    "relationship_id": self._state.id,
                    "mentor_name": self._state.mentor.name if self._state.mentor else "",
                    "mentee_name": self._state.mentee.name if self._state.mentee else "",
                    "reason": reason,
                    "pending": len(self._pending),
                },
            )
        )

    def _follow_up(self, sent: list[Notification], result: BatchResult) -> None:
        by_key = {n.key: n for n in sent}
        for key in result.retry:
            self._dispatch(by_key[key])
        for key, error in result.failed.items():
            self._report_failure(by_key[key], error)

    def _dispatch(self, notification: Notification) -> None:
        """Retry a delivery durably, with backoff, without holding the lifecycle back."""
        self._in_flight += 1
        asyncio.create_task(self._send(notification))  # noqa: RUF006 counted by _in_flight

    async def _send(self, notification: Notification) -> None:
        try:
            await workflow.execute_activity(
                SEND_NOTIFICATION,
                notification,
                summary=_send_summary(notification),
                start_to_close_timeout=timedelta(seconds=45),
                schedule_to_close_timeout=timedelta(days=3),
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as failure:
            self._report_failure(notification, str(failure.cause or failure))
        finally:
            self._in_flight -= 1
            self._wake = True

    def _report_failure(self, notification: Notification, error: str) -> None:
        log("notification failed", key=notification.key, error=error)
        if notification.kind is NotificationKind.DELIVERY_FAILED or self._state.operator is None:
            return
        self._outbox.append(
            Notification(
                key=f"{notification.key}:failed",
                kind=NotificationKind.DELIVERY_FAILED,
                relationship_id=notification.relationship_id,
                program=notification.program,
                recipients=(Recipient(role=Role.OPERATOR, person=self._state.operator),),
                context={
                    "program": notification.program,
                    "relationship_id": notification.relationship_id,
                    "failed_key": notification.key,
                    "failed_kind": notification.kind.value,
                    "recipient": ", ".join(r.person.email for r in notification.recipients),
                    "error": error,
                },
            )
        )
        self._wake = True

    def _index(self) -> None:
        s = self._state
        meeting = s.next_meeting
        wanted: dict[str, object] = {
            sa.PHASE.name: s.phase.value,
            sa.AT_RISK.name: s.at_risk,
            sa.NEXT_MEETING.name: meeting.scheduled_at if meeting else None,
        }
        if self._blocked is not None or sa.LEDGER_BLOCKED.name in self._indexed:
            wanted[sa.LEDGER_BLOCKED.name] = self._blocked is not None
        if wanted == self._indexed:
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.PHASE.value_set(s.phase.value),
            sa.AT_RISK.value_set(s.at_risk),
            sa.NEXT_MEETING.value_set(meeting.scheduled_at)
            if meeting
            else sa.NEXT_MEETING.value_unset(),
        ]
        if sa.LEDGER_BLOCKED.name in wanted:
            updates.append(sa.LEDGER_BLOCKED.value_set(self._blocked is not None))
        if not self._indexed:
            updates += [
                sa.PROGRAM.value_set(s.program),
                sa.KIND.value_set(s.kind.value),
                sa.MENTOR.value_set(s.mentor.id if s.mentor else ""),
                sa.MENTEE.value_set(s.mentee.id if s.mentee else ""),
            ]
        workflow.upsert_search_attributes(updates)
        self._indexed = wanted
