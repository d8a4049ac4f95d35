"""`mentorflow repair ID`: the operator has fixed what made the ledger refuse a relationship's
events (rows restored, a conflicting history moved away) and tells the workflow to retry.

The status is read first, for the operator's id when none is given and to say afterwards how
many waiting events the repair recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from cli import connection
from cli.action_commands import Id, JsonOpt, OperatorId, not_running, rejection
from cli.app import app
from cli.exit_codes import ExitCode
from cli.output import console, fail, print_json
from cli.status_command import fetch_status
from client.messages import validation_message
from client.relationships import repair as send_repair
from mentorship.participants import Actor, Role
from workflows.contract import RepairLedger, StatusView, UpdateResult

# How the workflow says there is nothing to repair, that the cause is not fixed yet, and how
# a build from before the repair says it has none.
_NOTHING_TO_REPAIR = ("nothing to repair", "not blocked")
_STILL_BLOCKED = "still blocked"
_UNKNOWN_UPDATE = "expected but not found"


@dataclass(frozen=True)
class Repaired:
    """What the repair found (the status before it) and what came of it."""

    relationship_id: str
    before: StatusView
    result: UpdateResult | None  # None: refused because nothing was blocked
    refusal: str = ""

    @property
    def waiting(self) -> int:
        """Events the repair recorded: the workflow's own count, else those waiting before."""
        if self.result is not None and self.result.events:
            return len(self.result.events)
        return self.before.ledger_pending

    def line(self) -> str:
        rid = self.relationship_id
        if self.result is None:
            if self.refusal.startswith("nothing to repair"):
                return f"repair of {rid}: {self.refusal}"
            return f"repair of {rid}: nothing to repair ({self.refusal})"
        if not self.result.recorded:
            return (
                f"repair of {rid} accepted, but the ledger has not confirmed the {self.waiting} "
                f"waiting event(s) yet; `mentorflow status {rid}` says whether it is still blocked"
            )
        if self.waiting == 0:
            return f"repair of {rid} accepted: nothing was waiting to be recorded"
        return f"repair of {rid} accepted: {self.waiting} waiting event(s) recorded"

    def as_json(self) -> dict[str, Any]:
        return {
            "relationship_id": self.relationship_id,
            "accepted": self.result is not None,
            "was_blocked": self.before.ledger_blocked,
            "waiting": self.waiting,
            "message": self.line(),
            "result": self.result.model_dump(mode="json") if self.result else None,
        }


@app.command()
def repair(
    relationship_id: Id,
    note: Annotated[
        str | None, typer.Option(help="What was fixed, for the record (500 characters).")
    ] = None,
    actor_id: OperatorId = None,
    as_json: JsonOpt = False,
) -> None:
    """Operator: the ledger's cause is fixed; record what was waiting and carry on."""
    _request(actor_id or "placeholder", note)  # a bad --note fails before connecting

    async def work() -> Repaired:
        client = await connection.client()
        before = await fetch_status(client, relationship_id)
        operator = before.state.party(Role.OPERATOR).id
        return await _send(client, relationship_id, before, _request(actor_id or operator, note))

    repaired = connection.run(work)
    if as_json:
        print_json(repaired.as_json())
    else:
        console.print(repaired.line(), highlight=False, soft_wrap=True)
    if repaired.result is not None and not repaired.result.recorded:
        raise typer.Exit(ExitCode.PENDING)  # the line above says what is still waiting


def _request(actor_id: str, note: str | None) -> RepairLedger:
    try:
        return RepairLedger(actor=Actor(role=Role.OPERATOR, id=actor_id), note=note or "")
    except ValidationError as err:
        fail(validation_message(err))


async def _send(
    client: Client, relationship_id: str, before: StatusView, request: RepairLedger
) -> Repaired:
    try:
        result = await send_repair(
            client, relationship_id, request, timeout=connection.command_timeout()
        )
    except WorkflowUpdateFailedError as err:
        reason = rejection(err)
        if any(words in reason for words in _NOTHING_TO_REPAIR):
            return Repaired(relationship_id, before, None, reason)
        if _STILL_BLOCKED in reason:
            fail(
                f"repair of {relationship_id} did not take: {reason}; fix the cause, then "
                "repair again",
                ExitCode.REFUSED,
            )
        if _UNKNOWN_UPDATE in reason:
            fail(
                f"the worker running {relationship_id} has no repair yet (a build from before "
                "`mentorflow repair`); deploy the current worker and run the repair again",
                ExitCode.REFUSED,
            )
        fail(f"rejected: {reason}", ExitCode.REFUSED)
    except RPCError as err:
        not_running(relationship_id, err)
        raise
    return Repaired(relationship_id, before, result)
