"""How every command speaks: a rich table for people, --json for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def validation_message(err: ValidationError) -> str:
    """Pydantic's errors as 'field: problem' pairs on one line."""
    parts = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "input"
        parts.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


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


def table(title: str | Text, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")  # ids stay whole, to copy into the next command
    for row in rows:
        grid.add_row(*(_cell(v) for v in row))
    return grid


def _cell(value: Any) -> str | Text:
    """Text keeps its style (a warning in red); anything else is shown as plain words."""
    if isinstance(value, Text):
        return value
    return "" if value is None else str(value)
