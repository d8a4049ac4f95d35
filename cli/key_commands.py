"""Printing new keys: the payload codec's and the ledger seal's, both `id:base64key`."""

from __future__ import annotations

import typer

from cli.app import app
from cli.output import fail
from ledger.keys import BadKeys, new_entry


@app.command("codec-key")
def codec_key(
    key_id: str = typer.Argument(..., help="Name of the new key, e.g. 2026-05"),
) -> None:
    """Print a new 256-bit key as id:base64key, to put first in MENTORFLOW_CODEC_KEYS.

    Rotation: MENTORFLOW_CODEC_KEYS=NEW,OLD encrypts with NEW and still reads OLD.
    """
    _print_new(key_id)


@app.command("ledger-key")
def ledger_key(
    key_id: str = typer.Argument(..., help="Name of the new key, e.g. ledger-2027"),
) -> None:
    """Print a new 256-bit key as id:base64key, to put first in MENTORFLOW_LEDGER_KEYS.

    Rotation: MENTORFLOW_LEDGER_KEYS=NEW,OLD seals with NEW and still checks rows sealed
    with OLD; keep old keys listed as long as their rows must verify."""
    _print_new(key_id)


def _print_new(key_id: str) -> None:
    try:
        typer.echo(new_entry(key_id))
    except BadKeys as err:
        fail(str(err))
