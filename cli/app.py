"""`mentorflow`: the operator's command line."""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="mentorflow",
    help="Run mentorship programs as durable workflows on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Each module adds its own commands; imported here so `--help` lists them all.
    from cli import (  # noqa: F401
        action_commands,
        audit_commands,
        codec_command,
        demo_command,
        relationship_commands,
        repair_command,
        report_commands,
        runtime_commands,
    )


def main() -> None:
    _register()
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    else:
        code = 0
    # Skip interpreter teardown: the Temporal client's Rust threads can abort a finished
    # process there (temporalio/sdk-python#300), turning a success into exit code 134.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
