"""`mentorflow`: the operator's command line."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer._click.exceptions import UsageError  # typer re-exports only some of click's
from typer.core import TyperArgument, TyperOption

app = typer.Typer(
    name="mentorflow",
    help="Run mentorship programs as durable workflows on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Run mentorship programs as durable workflows on Temporal."""
    # With only the typed command's module imported, typer would otherwise take a lone
    # command for the whole program (`mentorflow demo` read as `demo` being an argument).


# Each command: the module that defines it, the help panel it is listed under, and its one
# line of help. `main` imports only the module of the command typed, and `mentorflow --help`
# none of them (they pull in Temporal's client, SQLAlchemy and the domain: seconds, not
# milliseconds). tests/test_cli_imports.py holds this table against the modules.
_RUN, _PAIRS, _PEOPLE, _OPS, _AUDIT, _KEYS = (
    "Run the engine",
    "Relationships",
    "Participants (--as mentor|mentee)",
    "Operator",
    "Audit and outcomes",
    "Keys",
)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": (
        "runtime_commands",
        _RUN,
        "Run everything on this machine: Temporal's dev server "
        "(data in MENTORFLOW_DATA_DIR, default .data) and the worker, until Ctrl-C.",
    ),
    "worker": (
        "runtime_commands",
        _RUN,
        "Run only the worker, against the cluster at TEMPORAL_ADDRESS, until Ctrl-C.",
    ),
    "portal": (
        "runtime_commands",
        _RUN,
        "Serve only the participant portal (MENTORFLOW_PORTAL_HOST/_PORT), against the cluster "
        "at TEMPORAL_ADDRESS and the ledger at MENTORFLOW_LEDGER_URL, until Ctrl-C.",
    ),
    "codec-server": (
        "codec_command",
        _RUN,
        "Decrypt payloads for the Temporal web UI and the `temporal` CLI (bearer token required).",
    ),
    "demo": (
        "demo_command",
        _RUN,
        "A cohort of five pairs lives a whole program in minutes on the running engine.",
    ),
    "start": (
        "relationship_commands",
        _PAIRS,
        "Start one mentor-mentee relationship from flags or a YAML/JSON file.",
    ),
    "import": (
        "relationship_commands",
        _PAIRS,
        "Start every pair of a roster; rows already running are left alone (safe to re-run).",
    ),
    "list": (
        "list_command",
        _PAIRS,
        "Find relationships by phase, program, person, kind, health or a blocked ledger.",
    ),
    "status": (
        "status_command",
        _PAIRS,
        "One relationship at a glance: phase, agreement, next meeting, items, health, waits.",
    ),
    "goals": (
        "action_commands",
        _PEOPLE,
        "The mentee's learning objectives, challenges, proposed cadence and format.",
    ),
    "commitment": (
        "action_commands",
        _PEOPLE,
        "The mentor's availability, capacity, expertise, communication and boundaries.",
    ),
    "confirm": (
        "action_commands",
        _PEOPLE,
        "Confirm the agreement; terms not given stay as "
        "proposed (the pending terms, else the mentee's proposal).",
    ),
    "agenda": (
        "action_commands",
        _PEOPLE,
        "The mentee's agenda for an upcoming meeting; the mentor gets it with the reminder.",
    ),
    "log-meeting": (
        "action_commands",
        _PEOPLE,
        "Log a meeting that was held: notes, action items, wins.",
    ),
    "reschedule": (
        "action_commands",
        _PEOPLE,
        "Move a scheduled meeting; both get an updated invite.",
    ),
    "progress": (
        "action_commands",
        _PEOPLE,
        "Report progress on an action item; done items of an action plan close its loop.",
    ),
    "feedback": (
        "action_commands",
        _PEOPLE,
        "Feedback in either direction: the mentor's form makes an action plan.",
    ),
    "review": (
        "action_commands",
        _PEOPLE,
        "Rate the relationship and choose: continue, evolve (new cadence/goals) or conclude.",
    ),
    "request-review": (
        "action_commands",
        _PEOPLE,
        "Ask for a review now rather than at the next periodic one.",
    ),
    "conclude": (
        "action_commands",
        _PEOPLE,
        "End the relationship gracefully; both are asked for closing reflections.",
    ),
    "reflect": (
        "action_commands",
        _PEOPLE,
        "A closing reflection: highlights, wins, goals met, what next.",
    ),
    "pause": (
        "action_commands",
        _OPS,
        "Operator: hold every timer until resumed (leave, holidays, a reorganisation).",
    ),
    "resume": (
        "action_commands",
        _OPS,
        "Operator: carry on; every pending deadline moves by the time spent paused.",
    ),
    "extend": ("action_commands", _OPS, "Operator: move the planned end date later."),
    "cadence": (
        "action_commands",
        _OPS,
        "Operator: change how often the pair meets; the next meeting moves to match.",
    ),
    "cancel": (
        "action_commands",
        _OPS,
        "Operator: end the relationship now, without reflections, recorded as cancelled.",
    ),
    "operators": (
        "operator_commands",
        _OPS,
        "Who runs each program: list its operators, add or remove one (only its operators can).",
    ),
    "repair": (
        "repair_command",
        _OPS,
        "Operator: the ledger's cause is fixed; record what was waiting and carry on.",
    ),
    "history": (
        "audit_commands",
        _AUDIT,
        "A relationship's timeline in the program's words, across every run, from the ledger.",
    ),
    "audit": (
        "audit_commands",
        _AUDIT,
        "Prove the ledger: verify its hash chains, compare it with the live state, export it.",
    ),
    "report": (
        "report_commands",
        _AUDIT,
        "Program outcomes from the ledger: outcomes, risk, meetings, loops, duration.",
    ),
    "schema": (
        "schema_command",
        _AUDIT,
        "The workflow's updates, query and search attributes, for the stock `temporal` CLI.",
    ),
    "codec-key": (
        "key_commands",
        _KEYS,
        "Print a new 256-bit key as id:base64key, to put first in MENTORFLOW_CODEC_KEYS.",
    ),
    "ledger-key": (
        "key_commands",
        _KEYS,
        "Print a new 256-bit key as id:base64key, to put first in MENTORFLOW_LEDGER_KEYS.",
    ),
}


_TYPE_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "NUMBER",
    "path": "FILE",
    "datetime": "TIME",
}


def _readable_type(self: TyperOption | TyperArgument, ctx: Any) -> str | None:
    """What to type, in words: no `<bool>` beside a flag, `TEXT (repeat)` for a list."""
    if isinstance(self, TyperOption) and self.is_flag:
        return None
    label = self.display_type(ctx).removeprefix("<").removesuffix(">")
    repeated = label.startswith("list[")
    if repeated:
        label = label.removeprefix("list[").removesuffix("]")
    words = "|".join(_TYPE_WORDS.get(part, part) for part in label.split("|"))
    return f"{words} (repeat)" if repeated else words


# typer's hook for the type column of rich help; it has no setting for this.
TyperOption.display_type_rich = _readable_type  # type: ignore[method-assign]
TyperArgument.display_type_rich = _readable_type  # type: ignore[method-assign,assignment]


def register_all() -> None:
    """Every command module, as tests and the table check need them."""
    for module in dict.fromkeys(m for m, _, _ in COMMANDS.values()):
        importlib.import_module(f"cli.{module}")


def _overview() -> None:
    """`mentorflow` and `mentorflow --help`, from the table alone: typer's own help page
    would import its rich formatting (markdown included) to say the same."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print("\n [bold]Usage:[/] mentorflow COMMAND [ARGS]...\n")
    console.print(f" {app.info.help}\n Every command takes --help.\n")
    panels: dict[str, list[tuple[str, str]]] = {}
    for command, (_, panel, summary) in COMMANDS.items():
        panels.setdefault(panel, []).append((command, summary))
    for panel, rows in panels.items():
        grid = Table(title=panel, title_justify="left", title_style="bold", show_header=False)
        grid.add_column(no_wrap=True, style="bold cyan")
        grid.add_column()
        for row in rows:
            grid.add_row(*row)
        console.print(grid)


def _register_for(args: list[str]) -> bool:
    """The module of the command typed; for a mistyped name only the table, so typer can say
    it does not exist. False when the overview was asked for (and printed) instead."""
    name = next((a for a in args if not a.startswith("-")), None)
    if name is None and set(args) <= {"--help"}:
        _overview()
        return False
    if name in COMMANDS:
        importlib.import_module(f"cli.{COMMANDS[name][0]}")
        return True
    for command, (_, panel, summary) in COMMANDS.items():
        app.command(command, help=summary, rich_help_panel=panel, add_help_option=False)(_listed)
    return True


def _listed() -> None:
    """Only listed in `--help`; typing the command imports its real module instead."""


def _run() -> int:
    """The command, with a usage mistake (an unknown option, a value not among the choices,
    a missing argument) told in one line like every other error, exit code 2."""
    try:
        answer = app(standalone_mode=False)
    except typer.Abort:
        return 1
    except UsageError as err:
        sys.stderr.write(f"error: {_usage_line(err)}\n")
        return 2
    return answer if isinstance(answer, int) else 0


def _usage_line(err: UsageError) -> str:
    where = f" (see `{err.ctx.command_path} --help`)" if err.ctx is not None else ""
    if isinstance(err, typer.BadParameter) and err.param is not None and err.message:
        hint = err.param.get_error_hint().strip("'")
        message = err.message.removeprefix("Value error, ").rstrip(".")
        return f"{hint}: {message}{where}"
    said = " ".join(err.format_message().split())  # click lists choices on several lines
    return f"{said.rstrip('.')}{where}"


def main() -> None:
    if not _register_for(sys.argv[1:]):
        sys.stdout.flush()
        os._exit(0)
    try:
        code = _run()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    # Skip interpreter teardown: the Temporal client's Rust threads can abort a finished
    # process there (temporalio/sdk-python#300), turning a success into exit code 134.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
