"""Relationships as a Temporal client sees them: start, act, ask, find.

The CLI, the demo and the tests all go through here, so a start request is validated the
same way everywhere, before Temporal is asked to do anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from mentorship import commands as c
from mentorship.enrolment import StartRelationship, check_start
from workflows.contract import (
    UPDATES,
    RelationshipInput,
    RelationshipResult,
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


async def start_relationship(
    client: Client, request: StartRelationship, task_queue: str, now: datetime
) -> Started:
    """Start one relationship, or find it already running. Raises ValueError on bad input."""
    check_start(request, now)
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
        )
    except WorkflowAlreadyStartedError:
        return Started(workflow_id, created=False)
    return Started(workflow_id, created=True)


def handle(client: Client, relationship_id: str) -> WorkflowHandle[Any, RelationshipResult]:
    """The relationship's latest run: updates and queries follow continue-as-new."""
    return client.get_workflow_handle_for(MentorshipWorkflow.run, relationship_id)


async def act(client: Client, relationship_id: str, command: c.Command) -> UpdateResult:
    result: UpdateResult = await handle(client, relationship_id).execute_update(
        UPDATES[type(command)], command, result_type=UpdateResult
    )
    return result


async def status(client: Client, relationship_id: str) -> StatusView:
    view: StatusView = await handle(client, relationship_id).query(MentorshipWorkflow.status)
    return view


def list_query(**filters: Any) -> str:
    """A visibility query from filters on the search attributes; None values are skipped."""
    names = {
        "phase": "MentorshipPhase",
        "program": "MentorshipProgram",
        "mentor": "MentorshipMentor",
        "mentee": "MentorshipMentee",
        "kind": "MentorshipKind",
        "at_risk": "MentorshipAtRisk",
    }
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    for field_name, value in filters.items():
        if value is None:
            continue
        attribute = names[field_name]
        if isinstance(value, bool):
            clauses.append(f"{attribute} = {'true' if value else 'false'}")
        else:
            safe = str(value).replace("'", "")
            clauses.append(f"{attribute} = '{safe}'")
    return " AND ".join(clauses)
