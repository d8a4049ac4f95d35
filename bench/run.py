"""`python -m bench.run [--quick] [--only NAME]`: every benchmark, its baseline, the machine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench import lifecycle_cost, throughput
from bench.common import Bench, Machine, Report, print_report, quiet_logs, stopwatch

BENCHMARKS: dict[str, Callable[[Bench], Awaitable[list[Report]]]] = {}


def _register() -> None:
    async def lifecycle(bench: Bench) -> list[Report]:
        return [await lifecycle_cost.run(bench)]

    async def flow(bench: Bench) -> list[Report]:
        points = await throughput.run(bench)
        return [throughput.report_for(points[-1])]

    BENCHMARKS[lifecycle_cost.NAME] = lifecycle
    BENCHMARKS[throughput.NAME] = flow


_register()

cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


async def _run_all(bench: Bench, names: list[str]) -> list[Report]:
    reports: list[Report] = []
    with bench.progress:
        for name in names:
            with stopwatch() as watch:
                produced = await BENCHMARKS[name](bench)
            for report in produced:
                report.seconds = report.seconds or watch.seconds
                print_report(bench.console, report)
            reports += produced
    return reports


@cli.command()
def main(
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes: about a minute.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run just this benchmark (repeatable).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures to this file.")
    ] = None,
) -> None:
    """Run the benchmarks; each prints mentorflow against a minimal-workflow baseline."""
    names = only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise typer.BadParameter(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            param_hint="--only",
        )
    quiet_logs()
    console = Console()
    if console.width < 120:
        console = Console(width=120)
    machine = Machine.detect()
    console.print(f"[bold]machine:[/] {machine.describe()}", highlight=False)
    console.print(f"[bold]mode:[/] {'quick' if quick else 'full'}\n")
    bench = Bench(quick=quick, console=console)
    reports = asyncio.run(_run_all(bench, names))
    missed = [(r, row) for r in reports for row in r.missed]
    for report, row in missed:
        console.print(f"[red]target missed[/] {report.name}: {row.metric} (target {row.target})")
    if json_path is not None:
        data = {
            "machine": machine.__dict__,
            "quick": quick,
            "reports": [r.as_json() for r in reports],
        }
        json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")


if __name__ == "__main__":
    cli()
