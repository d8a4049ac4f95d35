"""Where bench 3's memory goes: Python's share of what one cached relationship costs.

`python -m bench.memory_split [N]` opens N relationships (default 300) the way bench 3 does,
in a worker in this process with tracemalloc on, for the project and for the floor, and
prints the growth per relationship that Python's allocator saw, with the files that made
it. Bench 3's RSS per relationship minus this is native memory: the Rust core's per-run
state and protobuf buffers. A diagnostic, not a benchmark: tracemalloc's own bookkeeping
makes its RSS meaningless, so `make bench` does not run it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from bench.baseline import FloorWorkflow, Plan
from bench.common import (
    KIB,
    Tally,
    bench_settings,
    bounded,
    dev_server,
    floor_worker,
    project_worker,
    quiet_logs,
)
from client.relationships import start_relationship, status
from tests.factories import request

WARM = 20
TOP = 6
Opener = Callable[[int], Awaitable[None]]


def _opener(variant: str, client: Client, task_queue: str) -> Opener:
    async def open_one(i: int) -> None:
        rid = f"split-{variant}-{i}-{task_queue}"
        if variant == "floor":
            handle = await client.start_workflow(
                FloorWorkflow.run, Plan(stay_open=True), id=rid, task_queue=task_queue
            )
            await handle.query(FloorWorkflow.handled)
            return
        await start_relationship(
            client, request(relationship_id=rid), task_queue, datetime.now(UTC)
        )
        await status(client, rid)

    return open_one


async def _growth(variant: str, client: Client, folder: Path, n: int) -> list[tuple[str, int]]:
    """Bytes by file that Python allocated and kept while N more relationships opened."""
    settings = bench_settings(folder / variant, max_cached_workflows=n + WARM + 100)
    running = floor_worker if variant == "floor" else project_worker
    async with running(client, settings) as running_worker:
        open_one = _opener(variant, client, settings.task_queue)
        await bounded(range(WARM), open_one, 10)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        await bounded(range(WARM, WARM + n), open_one, 20)
        await _settled(running_worker.tally)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    by_file = after.compare_to(before, "filename")
    return [(s.traceback[0].filename, s.size_diff) for s in by_file]


async def _settled(tally: Tally, limit: float = 60.0) -> None:
    """Until every activity begun has finished (welcomes, ledger writes), as bench 3 waits
    for the worker to go quiet before it reads RSS."""
    loop = asyncio.get_running_loop()
    deadline, seen = loop.time() + limit, (-1, -1)
    while loop.time() < deadline:
        await asyncio.sleep(0.25)
        now = (tally.begun, tally.done)
        if now == seen and tally.begun == tally.done:
            return
        seen = now


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


async def run(n: int, console: Console) -> None:
    quiet_logs()
    table = Table(title=f"Python-side growth per cached relationship, {n} opened (tracemalloc)")
    for column in ("variant", "KiB per relationship", f"largest {TOP} sources"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        async with dev_server(Path(tmp) / "server") as env:
            for variant in ("project", "floor"):
                with console.status(f"opening {n} relationships ({variant})"):
                    grown = await _growth(variant, env.client, Path(tmp), n)
                total = sum(size for _, size in grown) / n / KIB
                top = "\n".join(f"{size / n / KIB:6.1f}  {_short(f)}" for f, size in grown[:TOP])
                table.add_row(variant, f"{total:.1f}", top)
    console.print(table)
    console.print(
        "Bench 3's RSS per relationship minus this column is native memory (the Rust core, "
        "protobuf buffers)."
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    asyncio.run(run(n, Console()))


if __name__ == "__main__":
    main()
