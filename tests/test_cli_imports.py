"""`mentorflow --help` imports no command module, and its table says what the modules define."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from cli.app import COMMANDS, app, register_all

HEAVY = ("temporalio", "sqlalchemy", "pydantic", "mentorship", "ledger", "worker", "client")


def _run(*args: str) -> tuple[str, set[str]]:
    """Top-level packages a `mentorflow` run imports, read from -X importtime (not time)."""
    code = "from cli.app import main; main()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    return done.stdout, {name.split(".")[0] for name in names}


def test_help_imports_none_of_the_engine() -> None:
    shown, imported = _run("--help")
    assert "typer" in imported, "the probe reads imports"
    for name, (_module, panel, _summary) in COMMANDS.items():
        assert f"│ {name} " in shown and panel in shown, name
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
    assert "cli" in imported and len([m for m in imported if m.startswith("cli")]) == 1


def test_a_command_imports_its_own_module_only() -> None:
    _, imported = _run("ledger-key", "--help")
    assert "temporalio" not in imported, "the key printer needs no Temporal client"


def test_the_table_names_each_command_with_its_module_and_help() -> None:
    register_all()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    real = set(group.list_commands(typer.Context(group)))
    assert real == set(COMMANDS), f"add or remove in cli/app.py COMMANDS: {real ^ set(COMMANDS)}"
    for name, (module, _panel, summary) in COMMANDS.items():
        command = group.commands[name]
        first = " ".join((command.help or "").strip().split("\n\n")[0].split())
        assert first == summary, f"{name}: the table's help differs from {module}'s"
        callback = command.callback
        if callback is not None:
            assert callback.__module__ == f"cli.{module}", name


def test_a_module_with_one_command_still_takes_the_command_name() -> None:
    """Only the typed command's module is imported; a module defining a single command must
    not turn `mentorflow demo --help` into `demo` being read as an argument."""
    alone = [
        n for n, (m, _, _) in COMMANDS.items() if [v[0] for v in COMMANDS.values()].count(m) == 1
    ]
    assert alone, "there are modules with one command"
    script = str(Path(sys.executable).parent / "mentorflow")
    for name in alone:
        done = subprocess.run(
            [script, name, "--help"], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert f"Usage: mentorflow {name} " in " ".join(done.stdout.split()), done.stdout[:300]
