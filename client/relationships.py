"""Relationships as a Temporal client sees them: start, act, repair, ask, find.

The CLI, the demo and the tests all go through here, so a start request is validated the
same way everywhere, before Temporal is asked to do anything. Every call takes an optional
bound in seconds (see `client.waits`): a person at a shell gets an answer or a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution as RawExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributeKey,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from client.waits import Deadline, NoAnswer, ResultLate, Waited, within
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.enrolment import StartRelationship, check_start
from workflows import search_attributes as sa
from workflows.contract import (
    REPAIR_LEDGER,
    UPDATES,
    RelationshipInput,
    RelationshipResult,
    RepairLedger,
    StatusView,
    UpdateResult,
)
from workflows.mentorship_workflow import MentorshipWorkflow
from workflows.search_attributes import initial

WORKFLOW_TYPE = "MentorshipWorkflow"


@dataclass(frozen=True)
class Started:
    relationship_id: str
    created: bool  # False when the relationship already existed (an idempotent re-start)


class AlreadyInLedger(ValueError):
    """The ledger holds events under this id but Temporal has no run of it (its runs aged out
    of retention, or another cluster ran it): a new run would start at event 1 again, which
    the ledger refuses, so the relationship would be blocked from its first step."""

    def __init__(self, relationship_id: str, events: int) -> None:
        self.relationship_id = relationship_id
        self.events = events
        super().__init__(
            f"relationship {relationship_id} already has a history in the ledger ({events} "
            "events; it ran before); start it under a new id"
        )


async def start_relationship(
    client: Client,
    request: StartRelationship,
    task_queue: str,
    now: datetime,
    *,
    ledger: Ledger | None = None,
    timeout: float | None = None,
) -> Started:
    """Start one relationship, or find it already running.

    Raises ValueError on bad input, AlreadyInLedger when `ledger` holds a history of this id
    that Temporal no longer knows (nothing is started), NoAnswer past `timeout`.
    """
    check_start(request, now)
    workflow_id = request.workflow_id
    async with within(timeout, partial(NoAnswer, Waited.TEMPORAL, timeout or 0, workflow_id)):
        if ledger is not None and (recorded := ledger.last_seq(workflow_id)) > 0:
            if not await _known_to_temporal(client, workflow_id):
                raise AlreadyInLedger(workflow_id, recorded)
            return Started(workflow_id, created=False)
        return await _start(client, request, task_queue)


async def _start(client: Client, request: StartRelationship, task_queue: str) -> Started:
    workflow_id = request.workflow_id
    try:
        await client.start_workflow(
            MentorshipWorkflow.run,
            RelationshipInput(relationship_id=workflow_id, request=request),
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=initial(
                request.program, request.mentor.id, request.mentee.id, request.kind.value
            ),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=summary_of(request),
            static_details=details_of(request),
        )
    except WorkflowAlreadyStartedError:
        return Started(workflow_id, created=False)
    return Started(workflow_id, created=True)


def summary_of(request: StartRelationship) -> str:
    """What Temporal's web UI lists the workflow as: who, and in which program."""
    return f"{request.mentor.name} mentors {request.mentee.name} ({request.program})"


def details_of(request: StartRelationship) -> str:
    """The workflow's detail page in Temporal's web UI (Markdown)."""
    lines = [
        f"**{request.kind.value.capitalize()} mentoring** in program `{request.program}`",
        f"- mentor: {request.mentor.name} ({request.mentor.id})",
        f"- mentee: {request.mentee.name} ({request.mentee.id})",
        f"- operator: {request.operator.name} ({request.operator.id})",
    ]
    if request.topic:
        lines.append(f"- topic: {request.topic}")
    if request.end_date:
        lines.append(f"- planned end: {request.end_date.isoformat()}")
    return "\n".join(lines)


async def _known_to_temporal(client: Client, relationship_id: str) -> bool:
    """Any run under this id, running or closed but still within retention. Asked raw: only
    whether it exists matters, and the test server's search attributes do not parse."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=RawExecution(workflow_id=relationship_id)
    )
    try:
        await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def handle(client: Client, relationship_id: str) -> WorkflowHandle[Any, RelationshipResult]:
    """The relationship's latest run: updates and queries follow continue-as-new."""
    return client.get_workflow_handle_for(MentorshipWorkflow.run, relationship_id)


async def act(
    client: Client, relationship_id: str, command: c.Command, *, timeout: float | None = None
) -> UpdateResult:
    """Send one command. Raises WorkflowUpdateFailedError when refused, NoAnswer when no worker
    accepted it within `timeout`, ResultLate when one accepted it but did not finish in time."""
    return await _update(client, relationship_id, UPDATES[type(command)], command, timeout)


async def repair(
    client: Client, relationship_id: str, request: RepairLedger, *, timeout: float | None = None
) -> UpdateResult:
    """The operator says the ledger's cause is fixed: the workflow retries what was waiting."""
    return await _update(client, relationship_id, REPAIR_LEDGER, request, timeout)


async def _update(
    client: Client, relationship_id: str, name: str, arg: Any, timeout: float | None
) -> UpdateResult:
    """Accepted first, then finished: the two ways of running out of time mean different
    things (not applied, or applied and still running)."""
    deadline = Deadline(timeout)
    async with within(
        deadline.left(),
        partial(NoAnswer, Waited.WORKER, timeout or 0, relationship_id, command_sent=True),
    ):
        update = await handle(client, relationship_id).start_update(
            name, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=UpdateResult
        )
    async with within(deadline.left(), partial(ResultLate, timeout or 0, relationship_id)):
        result: UpdateResult = await update.result()
    return result


async def status(
    client: Client, relationship_id: str, *, timeout: float | None = None
) -> StatusView:
    """The status query. Raises NoAnswer when no worker answered within `timeout`."""
    async with within(timeout, partial(NoAnswer, Waited.WORKER, timeout or 0, relationship_id)):
        view: StatusView = await handle(client, relationship_id).query(MentorshipWorkflow.status)
    return view


async def find(
    client: Client, query: str, *, limit: int, timeout: float | None = None
) -> list[WorkflowExecution]:
    """Relationships matching a visibility query (see `list_query`), one row per relationship:
    earlier runs of one that carries on in a later run are left out."""
    current = f"{query} AND ExecutionStatus != 'ContinuedAsNew'"
    found: list[WorkflowExecution] = []
    async with within(timeout, partial(NoAnswer, Waited.TEMPORAL, timeout or 0, None)):
        async for execution in client.list_workflows(current, limit=limit):
            found.append(execution)
    return found


_FILTERS: dict[str, SearchAttributeKey[Any]] = {
    "phase": sa.PHASE,
    "program": sa.PROGRAM,
    "mentor": sa.MENTOR,
    "mentee": sa.MENTEE,
    "kind": sa.KIND,
    "at_risk": sa.AT_RISK,
    "ledger_blocked": sa.LEDGER_BLOCKED,
}


def list_query(**filters: Any) -> str:
    """A visibility query from filters on the search attributes; None values are skipped."""
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    for field_name, value in filters.items():
        if value is None:
            continue
        attribute = _FILTERS[field_name].name
        if isinstance(value, bool):
            clauses.append(f"{attribute} = {'true' if value else 'false'}")
        else:
            safe = str(value).replace("'", "")
            clauses.append(f"{attribute} = '{safe}'")
    return " AND ".join(clauses)
