"""8. The command line's own cost: `mentorflow --help` and `mentorflow status ID`.

Each is a fresh process, as a person or a script runs it, timed as the median of a few runs
against its floor on the same machine: `python -c pass` (the interpreter starting and
nothing else) for `--help`, and the stock `temporal workflow query` (a Go binary asking the
same workflow the same query) for `status`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Bench, Report, Row, bench_settings, dev_server, project_worker, unique
from cli.runtime_commands import installed_temporal
from client.relationships import start_relationship
from tests.factories import request

NAME = "cli"
HELP_TARGET_S = 0.3


def _median_run(command: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time of `repeat` runs after a warm-up run (page cache, .pyc files)."""
    warm = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if warm.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {warm.stderr.strip()[-300:]}")
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True, timeout=120)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _mentorflow() -> str:
    return str(Path(sys.executable).parent / "mentorflow")


async def run(bench: Bench) -> Report:
    repeat = 3 if bench.quick else 7
    report = Report(NAME, "command line: a fresh process per command, against its floor")
    env = dict(os.environ)
    help_s = _median_run([_mentorflow(), "--help"], env, repeat)
    floor_s = _median_run([sys.executable, "-c", "pass"], env, repeat)
    report.add(
        Row(
            "`mentorflow --help` vs `python -c pass`",
            help_s * 1000,
            floor_s * 1000,
            "ms",
            f"< {HELP_TARGET_S * 1000:.0f} ms",
            help_s < HELP_TARGET_S,
        )
    )
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        status_s, query_s = await _status_against_query(Path(folder), env, repeat)
    report.add(
        Row(
            "`mentorflow status ID` vs `temporal workflow query`",
            status_s * 1000,
            query_s * 1000,
            "ms",
        )
    )
    report.notes.append(
        f"median of {repeat} runs each; `--help` imports no command module "
        "(tests/test_cli_imports.py holds it to that)"
    )
    return report


async def _status_against_query(
    folder: Path, env: dict[str, str], repeat: int
) -> tuple[float, float]:
    settings = bench_settings(folder)
    async with dev_server(folder / "server") as server, project_worker(server.client, settings):
        relationship_id = unique("cli")
        await start_relationship(
            server.client,
            request(relationship_id=relationship_id),
            settings.task_queue,
            datetime.now(UTC),
        )
        address = server.client.service_client.config.target_host
        env = {**env, "TEMPORAL_ADDRESS": address, "MENTORFLOW_DATA_DIR": str(folder)}
        status = [_mentorflow(), "status", relationship_id]
        query = [
            installed_temporal(),
            *("workflow", "query", "--workflow-id", relationship_id, "--type", "status"),
            *("--address", address),
        ]
        return await asyncio.to_thread(
            lambda: (_median_run(status, env, repeat), _median_run(query, env, repeat))
        )
