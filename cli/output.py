"""How every command speaks: a rich table for people, --json for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Progress

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop with one line saying what went wrong and what to do."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """One line on stderr that something is not as it should be, while the command goes on."""
    errors.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def stop(message: str, code: int) -> NoReturn:
    """Done, but not quite: one line saying what is still open, and an exit code scripts read."""
    errors.print(f"[bold yellow]note:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def to_jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [to_jsonable(d) for d in data]
    if isinstance(data, dict):
        return {k: to_jsonable(v) for k, v in data.items()}
    return data


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, default=str) + "\n")


def table(
    title: str | Text,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    whole: Sequence[str] = (),
) -> Table:
    """A table that fits the terminal. Columns named in `whole` (ids a person copies into the
    next command) never wrap; the others fold to make room."""
    cells = [[_cell(v) for v in row] for row in rows]
    grid = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        if column in whole:
            widest = max([len(column), *(len(str(r[index])) for r in cells)])
            grid.add_column(column, no_wrap=True, min_width=widest)
        else:
            grid.add_column(column, overflow="fold")
    for row in cells:
        grid.add_row(*row)
    return grid


def _cell(value: Any) -> str | Text:
    """Text keeps its style (a warning in red); anything else is shown as plain words."""
    if isinstance(value, Text):
        return value
    return "" if value is None else str(value)


def progress_bar(*, disable: bool) -> Progress:
    """A counting bar on stderr, gone when done; off for --json. rich.progress is imported
    here, not at the top, so commands that show no bar do not pay for it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
        transient=True,
        disable=disable,
    )
