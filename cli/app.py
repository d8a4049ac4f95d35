"""`mentorflow`: the operator's command line."""

from __future__ import annotations

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
        report_commands,
        runtime_commands,
    )


def main() -> None:
    _register()
    app()
