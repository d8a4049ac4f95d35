"""`mentorflow operators`: who runs each program. Only they act on its relationships."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from cli.app import app
from cli.exit_codes import ExitCode
from cli.ledger_access import roster_ledger
from cli.output import console, fail, print_json, table
from client.access import NotOnRoster, add_operator, remove_operator
from client.messages import validation_message
from ledger import rosters
from mentorship.participants import Participant

operators_app = typer.Typer(
    name="operators",
    help="Who runs each program: list its operators, add or remove one (only its operators can).",
    no_args_is_help=True,
)
app.add_typer(operators_app, name="operators")

Program = Annotated[str, typer.Argument(help="The program, e.g. eng-2026.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor-id",
        envvar="MENTORFLOW_OPERATOR_ID",
        help="Which operator you are; you must be on the program's roster.",
    ),
]


@operators_app.command("list")
def list_operators(
    program: Program,
    as_json: JsonOpt = False,
    removed: Annotated[
        bool, typer.Option("--removed", help="Also those taken off, by whom and when.")
    ] = False,
) -> None:
    """The program's operators, first added first."""
    with roster_ledger() as ledger:
        entries = rosters.operators(ledger.engine, program, removed=removed)
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    if not entries:
        console.print(
            f"program {program} has no operators yet: whoever starts its first relationship "
            "becomes its first operator",
            highlight=False,
        )
        return
    columns = ["id", "name", "email", "added by", "on"] + (["removed"] if removed else [])
    rows = [_row(e, removed) for e in entries]
    console.print(table(f"Operators of {program}", columns, rows))


def _row(entry: rosters.RosterEntry, removed: bool) -> list[str]:
    row = [entry.operator_id, entry.name, entry.email, entry.added_by, f"{entry.added_at:%Y-%m-%d}"]
    if removed:
        gone = entry.removed_at
        row.append(f"{gone:%Y-%m-%d} by {entry.removed_by}" if gone else "")
    return row


@operators_app.command("add")
def add(
    program: Program,
    operator_id: Annotated[str, typer.Option("--id", help="The new operator's id.")],
    name: Annotated[str, typer.Option(help="Their name, as people read it.")],
    email: Annotated[str, typer.Option(help="Their address (sign-in links go there).")],
    actor_id: ActorOpt = None,
) -> None:
    """Add an operator to a program; you must be one of its operators."""
    if actor_id is None:
        fail("--actor-id: say which operator you are (or set MENTORFLOW_OPERATOR_ID)")
    try:
        newcomer = Participant(id=operator_id, name=name, email=email)
    except ValidationError as err:
        fail(validation_message(err, {"id": "--id"}))
    with roster_ledger() as ledger:
        try:
            added = add_operator(ledger.engine, program, actor_id, newcomer, datetime.now(UTC))
        except NotOnRoster as err:
            fail(str(err), ExitCode.REFUSED)
    said = "added to" if added else "already on"
    console.print(f"{operator_id} {said} the roster of {program}", highlight=False)


@operators_app.command("remove")
def remove(
    program: Program,
    operator_id: Annotated[str, typer.Option("--id", help="The operator to take off.")],
    actor_id: ActorOpt = None,
) -> None:
    """Take an operator off a program (never its last); you must be one of its operators.
    They can no longer sign in to it or act on its relationships."""
    if actor_id is None:
        fail("--actor-id: say which operator you are (or set MENTORFLOW_OPERATOR_ID)")
    with roster_ledger() as ledger:
        try:
            removed = remove_operator(
                ledger.engine, program, actor_id, operator_id, datetime.now(UTC)
            )
        except NotOnRoster as err:
            fail(str(err), ExitCode.REFUSED)
        except rosters.LastOperator as err:
            fail(f"--id: {err}", ExitCode.REFUSED)
        known = ", ".join(e.operator_id for e in rosters.operators(ledger.engine, program))
    if not removed:
        fail(f"--id: {operator_id} is not on the roster of {program}; its operators: {known}")
    console.print(f"{operator_id} removed from the roster of {program}", highlight=False)
