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
    from mentorship import commands as c
    from mentorship.decider import Outcome, Rejected
    from mentorship.decisions import decide, start
    from mentorship.events import Recorded, ReviewDecided
    from mentorship.notifications import Notification, NotificationKind, Recipient
    from mentorship.participants import Role
    from mentorship.state import RelationshipState
    from mentorship.timers import next_deadline, tick
    from mentorship.waiting import waiting_for
    from workflows import search_attributes as sa
    from workflows.contract import (
        RECORD_EVENTS,
        SEND_NOTIFICATION,
        UPDATES,
        BatchResult,
        EventBatch,
        RelationshipInput,
        RelationshipResult,
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
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


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
    update = workflow.update(name=name)(handler)
    update.validator(validator)
    return update


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
        if input.state is None:
            self._state = RelationshipState(id=input.relationship_id)
            self._commit(start(input.request, input.relationship_id, workflow.now()))
        else:
            self._state = input.state

    @workflow.run
    async def run(self, input: RelationshipInput) -> RelationshipResult:
        log("relationship running", run=self._run, phase=self._state.phase.value)
        while not self._state.finished:
            await self._flush()
            if self._ready_to_continue():
                await self._continue_as_new()
            await self._sleep_until_due()
            self._commit(tick(self._state, workflow.now()))
        self._disarm()
        await self._drain()
        assert self._state.outcome is not None
        log("relationship concluded", outcome=self._state.outcome.value)
        return RelationshipResult(
            relationship_id=self._state.id,
            outcome=self._state.outcome,
            summary=self._state.conclusion.summary if self._state.conclusion else None,
            events=self._state.seq,
        )

    # Queries

    @workflow.query
    def status(self) -> StatusView:
        return StatusView(
            state=self._state,
            waiting_for=waiting_for(self._state),
            next_deadline=next_deadline(self._state, workflow.now()),
            run=self._run,
            ledger_pending=len(self._pending),
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

    # Command handling

    def _check(self, cmd: c.Command) -> None:
        decide(self._state, cmd, workflow.now())

    async def _handle(self, cmd: c.Command) -> UpdateResult:
        try:
            outcome = decide(self._state, cmd, workflow.now())
        except Rejected as rejected:
            raise ApplicationError(str(rejected), type="Rejected", non_retryable=True) from None
        self._commit(outcome)
        log(
            "command applied", command=type(cmd).__name__, actor=str(cmd.actor), seq=self._state.seq
        )
        result = UpdateResult(
            seq=self._state.seq,
            events=[r.event.type for r in outcome.recorded],
            phase=self._state.phase.value,
        )
        await self._flush()  # the caller hears back once the ledger holds its events
        self._wake = True  # the run loop may now be free to continue as new
        return result

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
        deadline = next_deadline(self._state, now)
        if deadline is not None and deadline <= now:
            return
        self._arm(deadline, now)
        await workflow.wait_condition(lambda: self._wake or self._alarm_rang())

    def _arm(self, deadline: datetime | None, now: datetime) -> None:
        """Keep one durable timer, replaced only when the deadline moves.

        Most updates leave the next deadline where it was; cancelling and restarting the timer
        on each would add two history events per update for nothing.
        """
        if deadline == self._armed_for and self._alarm is not None and not self._alarm.done():
            return
        self._disarm()
        self._armed_for = deadline
        if deadline is not None:
            self._alarm = asyncio.create_task(workflow.sleep(deadline - now))

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
            await self._flush()
            if self._in_flight == 0 and workflow.all_handlers_finished():
                return

    def _ready_to_continue(self) -> bool:
        info = workflow.info()
        too_long = info.get_current_history_length() >= self._state.policy.history_event_limit
        wanted = self._boundary or too_long or info.is_continue_as_new_suggested()
        quiet = not self._pending and not self._outbox and self._in_flight == 0
        return wanted and quiet and workflow.all_handlers_finished()

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
            )
        )

    # Side effects

    async def _flush(self) -> None:
        """Record queued events and first-attempt their notifications, in order, in batches."""
        async with self._flushing:
            while self._pending or self._outbox:
                events, notifications = list(self._pending), list(self._outbox)
                # A regular activity, not a local one: its input is written to history before
                # it runs, so a retried workflow task can never append a different event
                # under a key an earlier, uncommitted attempt already used.
                result: BatchResult = await workflow.execute_activity(
                    RECORD_EVENTS,
                    EventBatch(
                        relationship_id=self._state.id, events=events, notifications=notifications
                    ),
                    result_type=BatchResult,
                    # A write plus first delivery attempts capped at a few seconds: a worker
                    # lost mid-write is noticed quickly and the batch retried elsewhere.
                    start_to_close_timeout=timedelta(seconds=20),
                    retry_policy=LEDGER_RETRY,
                )
                del self._pending[: len(events)]
                del self._outbox[: len(notifications)]
                self._follow_up(notifications, result)

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
        if wanted == self._indexed:
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.PHASE.value_set(s.phase.value),
            sa.AT_RISK.value_set(s.at_risk),
            sa.NEXT_MEETING.value_set(meeting.scheduled_at)
            if meeting
            else sa.NEXT_MEETING.value_unset(),
        ]
        if not self._indexed:
            updates += [
                sa.PROGRAM.value_set(s.program),
                sa.KIND.value_set(s.kind.value),
                sa.MENTOR.value_set(s.mentor.id if s.mentor else ""),
                sa.MENTEE.value_set(s.mentee.id if s.mentee else ""),
            ]
        workflow.upsert_search_attributes(updates)
        self._indexed = wanted
