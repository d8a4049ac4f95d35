"""Drive relationships on a real Temporal server from tests, as the CLI would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from client.relationships import handle as relationship_handle
from client.relationships import start_relationship
from ledger.records import recorded_events
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.commands import ItemStatus, ReviewDecision
from mentorship.enrolment import StartRelationship
from mentorship.events import Recorded
from tests.factories import MENTEE, MENTOR, log, mentee_feedback, mentor_feedback, review
from worker.settings import Settings
from workflows.contract import (
    UPDATES,
    RelationshipResult,
    StatusView,
    UpdateResult,
)
from workflows.mentorship_workflow import MentorshipWorkflow

RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


@dataclass
class Pair:
    handle: WorkflowHandle[Any, Any]
    life: Lifecycle

    @property
    def id(self) -> str:
        return self.handle.id

    async def do(self, command: c.Command) -> UpdateResult:
        before = await self.run_id()
        result: UpdateResult = await self.handle.execute_update(
            UPDATES[type(command)], command, result_type=UpdateResult
        )
        if "ReviewDecided" in result.events and result.phase != "concluding":
            await self.next_run(before)
        return result

    async def run_id(self) -> str:
        """The current run, read raw: the test server's datetime search attributes don't parse."""
        response = await self.life.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.life.env.client.namespace,
                execution=WorkflowExecution(workflow_id=self.id),
            )
        )
        run_id: str = response.workflow_execution_info.execution.run_id
        return run_id

    async def next_run(self, previous: str | None) -> None:
        """Wait out the continue-as-new that follows a review.

        The time-skipping test server can hand a query or update sent in the instant of
        continue-as-new to the closing run, where it times out; the real server does not.
        """
        for _ in range(200):
            if await self.run_id() != previous:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.id} did not continue as new after its review")

    async def status(self) -> StatusView:
        view: StatusView = await self.handle.query(MentorshipWorkflow.status)
        return view

    async def result(self) -> RelationshipResult:
        result: RelationshipResult = await self.handle.result()
        return result

    def ledger(self) -> list[Recorded]:
        return recorded_events(self.life.ledger.events(self.id))

    def outbox(self) -> list[dict[str, Any]]:
        return [m for m in self.life.outbox() if m["relationship_id"] == self.id]

    def sent(self) -> Counter[tuple[str, str]]:
        """(kind, recipient role) -> how many messages went out."""
        return Counter((m["kind"], m["recipient_role"]) for m in self.outbox())


@dataclass
class Lifecycle:
    env: WorkflowEnvironment
    settings: Settings
    ledger: Ledger
    started: list[str] = field(default_factory=list)

    async def close(self) -> None:
        """End what a test left running: on the shared time-skipping server an open workflow
        whose worker is gone would hold the clock for every test after it, and so would an
        activity still running when its workflow is terminated: let those finish first (the
        worker is still up when this runs)."""
        for relationship_id in self.started:
            with contextlib.suppress(RPCError, WorkflowFailureError):
                await self._settle(relationship_id)
                await self.env.client.get_workflow_handle(relationship_id).terminate("test over")

    async def _settle(self, relationship_id: str) -> None:
        """Read raw, as `Pair.run_id` does: the test server's search attributes don't parse."""
        request = DescribeWorkflowExecutionRequest(
            namespace=self.env.client.namespace,
            execution=WorkflowExecution(workflow_id=relationship_id),
        )
        for _ in range(200):  # bounded: deliveries to loopback take milliseconds
            described = await self.env.client.workflow_service.describe_workflow_execution(request)
            running = described.workflow_execution_info.status == RUNNING
            if not running or not described.pending_activities:
                return
            await asyncio.sleep(0.05)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, delta: timedelta) -> None:
        await self.env.sleep(delta)

    async def sleep_until(self, moment: datetime) -> None:
        now = await self.now()
        if moment > now:
            await self.env.sleep(moment - now)

    async def start(self, request: StartRelationship) -> Pair:
        # Each test has its own task queue; its relationships get ids of their own too.
        unique = f"{request.workflow_id}.{self.settings.task_queue}"
        request = request.model_copy(update={"relationship_id": unique})
        started = await start_relationship(
            self.env.client, request, self.settings.task_queue, await self.now()
        )
        assert started.created, f"{unique} already existed"
        self.started.append(started.relationship_id)
        return Pair(relationship_handle(self.env.client, started.relationship_id), self)

    def outbox(self) -> list[dict[str, Any]]:
        path = self.settings.resolved_outbox
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def hold_next_meeting(pair: Pair, wins: list[str]) -> int:
    """Wait for the next meeting, then the mentee logs it with an action item."""
    meeting = (await pair.status()).state.next_meeting
    assert meeting is not None
    await pair.life.sleep_until(meeting.scheduled_at + timedelta(hours=1))
    await pair.do(
        log(MENTEE, meeting.scheduled_at, notes="Notes", wins=wins, action_items=["Read the RFC"])
    )
    return meeting.number


async def answer_open_prompts(pair: Pair) -> None:
    """A diligent pair: both sides give feedback, report back on items, answer reviews."""
    state = (await pair.status()).state
    for loop in state.loops:
        if loop.closed_at is None and loop.mentor_strengths is None:
            await pair.do(mentor_feedback(loop.number))
        if loop.closed_at is None and loop.mentee_what_helps is None:
            await pair.do(mentee_feedback(loop.number))
    state = (await pair.status()).state
    for item in state.open_items():
        await pair.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.DONE))
    if state.open_review is not None:
        number = state.open_review.number
        await pair.do(review(MENTOR, number, ReviewDecision.CONTINUE))
        await pair.do(review(MENTEE, number, ReviewDecision.CONTINUE))
