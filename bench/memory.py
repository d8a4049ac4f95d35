"""3. Memory: what one open relationship costs a worker that keeps it cached.

The worker runs in a subprocess of its own (bench/memory_worker.py); its resident set size
(RSS, read with psutil) is sampled after a warm-up and again once N relationships are open,
have run their first workflow tasks and answered a query (so each is in the worker's cache).
RSS per relationship = (RSS at N - RSS after warm-up) / N: Python objects, the sandbox's
per-run module copies and the Rust core's per-run state, all counted.

The floor is a minimal workflow that waits forever. A third worker leaves the `mentorship`
domain out of the sandbox passthrough, to show what the passthrough saves.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from temporalio.client import Client
from temporalio.service import RPCError

from bench.baseline import FloorWorkflow, Plan
from bench.common import KIB, Bench, Report, Row, bounded, dev_server, unique
from client.relationships import start_relationship
from client.relationships import status as relationship_status
from client.waits import NoAnswer
from tests.factories import request

NAME = "memory"
TARGET_KIB = 150
WARM = 20
CONCURRENCY = 50
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def size(quick: bool) -> int:
    return 500 if quick else 5000


def unpassed_size(n: int) -> int:
    """Each run of the unpassed worker imports the domain again: a few dozen runs show it."""
    return max(5, min(60, n // 16))


@dataclass
class Sample:
    n: int
    rss: int
    seconds: float  # to open these n, from the previous sample

    def per_relationship_kib(self, warm_rss: int) -> float:
        return (self.rss - warm_rss) / self.n / KIB


@dataclass
class Curve:
    variant: str
    warm_rss: int = 0
    samples: list[Sample] = field(default_factory=list)
    failed: str | None = None  # why the curve stopped short, when it did

    def at(self, n: int) -> Sample | None:
        return next((s for s in self.samples if s.n == n), None)

    def per_relationship_kib(self, n: int) -> float | None:
        sample = self.at(n)
        return sample.per_relationship_kib(self.warm_rss) if sample else None

    def rss_mib(self, n: int) -> float | None:
        sample = self.at(n)
        return sample.rss / KIB**2 if sample else None


@dataclass
class WorkerProcess:
    variant: str
    task_queue: str
    process: asyncio.subprocess.Process

    @property
    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    async def quiet(self, limit: float = 60.0) -> None:
        """Wait for the worker to finish what it was doing (first tasks, welcome messages)."""
        proc = psutil.Process(self.process.pid)
        proc.cpu_percent(None)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if proc.cpu_percent(None) < 5.0:
                return


@asynccontextmanager
async def worker_process(
    variant: str, client: Client, folder: Path, cache: int
) -> AsyncIterator[WorkerProcess]:
    task_queue = unique(f"mem-{variant}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.memory_worker",
        variant,
        client.service_client.config.target_host,
        task_queue,
        str(folder / variant),
        str(cache),
        cwd=PROJECT_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        if line.strip() != b"ready":
            raise RuntimeError(f"the {variant} worker did not start (said {line!r})")
        yield WorkerProcess(variant, task_queue, process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=40)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _open(client: Client, worker: WorkerProcess, relationship_id: str) -> None:
    """Start one relationship (or floor workflow) and query it: a query is answered by the
    cached run, so afterwards the worker holds it."""
    if worker.variant == "floor":
        handle = await client.start_workflow(
            FloorWorkflow.run,
            Plan(stay_open=True),
            id=relationship_id,
            task_queue=worker.task_queue,
        )
        await handle.query(FloorWorkflow.handled)
        return
    now = datetime.now(UTC)
    req = request(relationship_id=relationship_id)
    await start_relationship(client, req, worker.task_queue, now)
    await relationship_status(client, relationship_id)


async def curve(
    bench: Bench, client: Client, folder: Path, variant: str, points: list[int]
) -> Curve:
    result = Curve(variant)
    async with worker_process(variant, client, folder, cache=points[-1] + WARM + 100) as worker:
        try:
            await _measure_points(bench, client, worker, points, result)
        except (RPCError, NoAnswer, TimeoutError) as err:
            # A point that cannot be measured is reported as such; the run goes on.
            result.failed = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return result


async def _measure_points(
    bench: Bench, client: Client, worker: WorkerProcess, points: list[int], result: Curve
) -> None:
    variant = worker.variant
    await bounded([unique("warm") for _ in range(WARM)], lambda r: _open(client, worker, r), 10)
    await worker.quiet()
    result.warm_rss = worker.rss
    opened = 0
    with bench.bar(f"{variant}: open relationships, cached", points[-1]) as advance:
        for n in points:
            started = time.perf_counter()
            ids = [unique(f"{variant}-{i}") for i in range(opened, n)]
            await bounded(ids, lambda r: _open(client, worker, r), CONCURRENCY, advance)
            seconds = time.perf_counter() - started
            await worker.quiet()
            result.samples.append(Sample(n, worker.rss, seconds))
            opened = n


async def measure(bench: Bench, points: list[int]) -> dict[str, Curve]:
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    curves: dict[str, Curve] = {}
    async with dev_server(folder / "server", file_backed=False) as env:
        for variant in ("floor", "project"):
            curves[variant] = await curve(bench, env.client, folder, variant, points)
        small = unpassed_size(points[-1])
        curves["unpassed"] = await curve(bench, env.client, folder, "unpassed", [small])
    return curves


def report_for(curves: dict[str, Curve]) -> Report:
    project, floor, unpassed = curves["project"], curves["floor"], curves["unpassed"]
    n = project.samples[-1].n if project.samples else 0
    small = unpassed.samples[-1].n if unpassed.samples else 0
    per = project.per_relationship_kib(n)
    report = Report(NAME, f"3. Memory: {n:,} open relationships cached in one worker")
    report.add(
        Row(
            "worker RSS per cached relationship",
            per,
            floor.per_relationship_kib(n),
            unit="KiB",
            target=f"< {TARGET_KIB}",
            ok=per < TARGET_KIB if per is not None else None,
        ),
        Row(
            f"worker RSS with {n:,} cached",
            project.rss_mib(n),
            floor.rss_mib(n),
            unit="MiB",
        ),
        Row(
            "worker RSS after warm-up",
            project.warm_rss / KIB**2,
            floor.warm_rss / KIB**2,
            unit="MiB",
        ),
        Row(
            f"time to open {n:,} (start + first tasks + query)",
            sum(s.seconds for s in project.samples),
            sum(s.seconds for s in floor.samples),
            unit="s",
        ),
        Row(
            f"domain NOT passed through: RSS per relationship ({small} runs)",
            unpassed.per_relationship_kib(small),
            per,
            unit="KiB",
        ),
    )
    report.notes += [
        f"{c.variant}: NOT MEASURED past {c.samples[-1].n if c.samples else 0} ({c.failed})"
        for c in (floor, project, unpassed)
        if c.failed
    ]
    report.notes += [
        "RSS of the worker subprocess (psutil), after a warm-up of "
        f"{WARM} and after all were open and quiet; per relationship = growth / N",
        "last row: baseline column is the project with the passthrough, for comparison",
    ]
    return report


async def run(bench: Bench, points: list[int] | None = None) -> dict[str, Curve]:
    return await measure(bench, points or [size(bench.quick)])
