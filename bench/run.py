"""`python -m bench.run [--quick] [--only NAME]`: every benchmark, its baseline, the machine.

Throughput and memory run once per size: when scaling is selected they run at 1x, 4x and
16x N and their own tables report the largest size, so `make bench` does each only once.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench import (
    audit_speed,
    bulk_import,
    carried_state,
    cli_speed,
    lifecycle_cost,
    memory,
    portal_load,
    read_model,
    scaling,
    throughput,
)
from bench.common import Bench, Machine, Report, print_report, quiet_logs, stopwatch

NAMES = (
    lifecycle_cost.NAME,
    throughput.NAME,
    memory.NAME,
    audit_speed.NAME,
    bulk_import.NAME,
    scaling.NAME,
    carried_state.NAME,
    cli_speed.NAME,
    read_model.NAME,
    portal_load.NAME,
)

cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class Runner:
    """Runs the chosen benchmarks in order, sharing the sized runs between 2, 3 and 6."""

    def __init__(self, bench: Bench, names: list[str]) -> None:
        self.bench = bench
        self.names = names
        self.scaled = scaling.NAME in names
        self.points: list[throughput.Point] = []
        self.curves: dict[str, memory.Curve] = {}
        self.reports: list[Report] = []

    async def _throughput(self) -> list[throughput.Point]:
        if not self.points:
            quick = self.bench.quick
            sizes = (
                scaling.throughput_sizes(quick)
                if self.scaled
                else [throughput.base_size(quick) * 16]
            )
            self.points = await throughput.run(self.bench, sizes)
        return self.points

    async def _memory(self) -> dict[str, memory.Curve]:
        if not self.curves:
            quick = self.bench.quick
            points = scaling.memory_points(quick) if self.scaled else [memory.size(quick)]
            self.curves = await memory.run(self.bench, points)
        return self.curves

    async def one(self, name: str) -> list[Report]:
        if name == lifecycle_cost.NAME:
            return [await lifecycle_cost.run(self.bench)]
        if name == throughput.NAME:
            return [throughput.report_for((await self._throughput())[-1])]
        if name == memory.NAME:
            return [memory.report_for(await self._memory())]
        if name == audit_speed.NAME:
            return [audit_speed.run(self.bench)]
        if name == bulk_import.NAME:
            return [await bulk_import.run(self.bench)]
        if name == scaling.NAME:
            return [scaling.report_for(await self._throughput(), await self._memory())]
        if name == carried_state.NAME:
            return [carried_state.run(self.bench)]
        if name == cli_speed.NAME:
            return [await cli_speed.run(self.bench)]
        if name == read_model.NAME:
            return [await read_model.run(self.bench)]
        if name == portal_load.NAME:
            return [await portal_load.run(self.bench)]
        raise KeyError(name)

    async def all(self) -> list[Report]:
        with self.bench.progress:
            for name in self.names:
                with stopwatch() as watch:
                    produced = await self.one(name)
                for report in produced:
                    report.seconds = watch.seconds
                    print_report(self.bench.console, report)
                self.reports += produced
        return self.reports


@cli.command()
def main(
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes: a few minutes.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help=f"Run just this one (repeatable): {', '.join(NAMES)}."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures to this file.")
    ] = None,
) -> None:
    """Run the benchmarks; each prints mentorflow against a minimal-workflow baseline."""
    names = list(only or NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise typer.BadParameter(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}",
            param_hint="--only",
        )
    quiet_logs()
    console = Console()
    if console.width < 120:
        console = Console(width=120)
    machine = Machine.detect()
    console.print(f"[bold]machine:[/] {machine.describe()}", highlight=False)
    console.print(f"[bold]mode:[/] {'quick' if quick else 'full'}\n")
    runner = Runner(Bench(quick=quick, console=console), names)
    with stopwatch() as watch:
        reports = asyncio.run(runner.all())
    for report in reports:
        for row in report.missed:
            console.print(
                f"[red]target missed[/] {report.name}: {row.metric} (target {row.target})"
            )
    console.print(f"all benchmarks: {watch.seconds:.0f} s")
    if json_path is not None:
        data = {
            "machine": asdict(machine),
            "quick": quick,
            "reports": [r.as_json() for r in reports],
        }
        json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")


if __name__ == "__main__":
    cli()
