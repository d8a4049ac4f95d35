"""`mentorflow schema`: what the stock `temporal` CLI needs to talk to a relationship.

Printed from the models the workflow itself validates with, so it cannot drift from them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.app import app
from cli.output import console, fail, print_json, table
from mentorship.vocabulary import Kind, Phase
from workflows import search_attributes as sa
from workflows.contract import DESCRIPTIONS, REPAIR_LEDGER, UPDATES, RepairLedger

_VALUES = {
    sa.PHASE.name: ", ".join(p.value for p in Phase),
    sa.KIND.name: ", ".join(k.value for k in Kind),
    sa.AT_RISK.name: "true, false",
    sa.LEDGER_BLOCKED.name: "true, false (unset until it first blocks)",
    sa.NEXT_MEETING.name: "UTC time of the next scheduled meeting (unset when none)",
    sa.PROGRAM.name: "the program id",
    sa.MENTOR.name: "the mentor's id",
    sa.MENTEE.name: "the mentee's id",
}


def _updates() -> dict[str, type[Any]]:
    shapes: dict[str, type[Any]] = {name: command for command, name in UPDATES.items()}
    shapes[REPAIR_LEDGER] = RepairLedger
    return shapes


@app.command()
def schema(
    update: Annotated[
        str | None, typer.Argument(help="One update's JSON schema, e.g. log_meeting.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The workflow's updates, query and search attributes, for the stock `temporal` CLI."""
    shapes = _updates()
    if update is not None:
        if update not in shapes:
            fail(f"no update '{update}'; one of: {', '.join(sorted(shapes))}")
        print_json(shapes[update].model_json_schema())
        return
    attributes = [
        [key.name, key.indexed_value_type.name.lower(), _VALUES[key.name]] for key in sa.ALL
    ]
    if as_json:
        print_json(
            {
                "updates": {n: {"description": DESCRIPTIONS[n]} for n in shapes},
                "query": "status",
                "search_attributes": {a[0]: {"type": a[1], "values": a[2]} for a in attributes},
                "encrypted_payloads": ENCRYPTED_NOTE,
            }
        )
        return
    rows = [[name, DESCRIPTIONS[name], _example(shape)] for name, shape in shapes.items()]
    console.print(
        table(
            "Updates (`mentorflow schema NAME` for one's JSON schema)",
            ("update", "what it does", "fields"),
            rows,
            whole=["update"],
        )
    )
    console.print(
        table("Search attributes", ("attribute", "type", "values"), attributes, whole=["attribute"])
    )
    console.print(
        "Query: status (the relationship at a glance). Every update and the query "
        'name the actor as {"role": ..., "id": ...}.'
    )
    console.print(ENCRYPTED_NOTE)


ENCRYPTED_NOTE = (
    "Encrypted payloads (the default under `mentorflow up`): give the temporal CLI the codec "
    "(--codec-endpoint, --codec-auth). Without it an update is still applied, sent as plain "
    "JSON and kept unencrypted in the run's history, and the CLI then fails to read the "
    "encrypted reply ('encoding binary/encrypted: payload encoding is not supported'): check "
    "the result with `mentorflow status ID`, do not send it again."
)


def _example(shape: type[Any]) -> str:
    fields = shape.model_json_schema().get("properties", {})
    required = set(shape.model_json_schema().get("required", []))
    return json.dumps([f + ("" if f in required else "?") for f in fields])[1:-1].replace('"', "")
