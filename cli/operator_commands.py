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
from client.access import NotOnRoster, add_operator
from client.messages import validation_message
from ledger import rosters
from mentorship.participants import Participant

operators_app = typer.Typer(
    name="operators",
    help="Who runs each program: list its operators, add one (only its operators can).",
    no_args_is_help=True,
)
app.add_typer(operators_app, name="operators")

Program = Annotated[str, typer.Argument(help="The program, e.g. eng-2026.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@operators_app.command("list")
def list_operators(program: Program, as_json: JsonOpt = False) -> None:
    """The program's operators, first added first."""
    with roster_ledger() as ledger:
        entries = rosters.operators(ledger.engine, program)
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
    rows = [[e.operator_id, e.name, e.email, e.added_by, f"{e.added_at:%Y-%m-%d}"] for e in entries]
    console.print(table(f"Operators of {program}", ["id", "name", "email", "added by", "on"], rows))


@operators_app.command("add")
def add(
    program: Program,
    operator_id: Annotated[str, typer.Option("--id", help="The new operator's id.")],
    name: Annotated[str, typer.Option(help="Their name, as people read it.")],
    email: Annotated[str, typer.Option(help="Their address (sign-in links go there).")],
    actor_id: Annotated[
        str | None,
        typer.Option(
            "--actor-id",
            envvar="MENTORFLOW_OPERATOR_ID",
            help="Which operator you are; you must be on the program's roster.",
        ),
    ] = None,
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
