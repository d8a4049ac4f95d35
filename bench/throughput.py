"""2. Throughput against the floor: relationships per second through onboarding and 3 meetings.

On the real dev server, file-backed as the embedded runtime runs it. Each relationship is
started, onboarded (goals, commitment, two confirmations) and has three meetings logged (as
either party may log a meeting early, the bench needs no clock tricks). The floor starts the
same number of minimal workflows and sends them the same updates doing the same activities.
A run counts as done when every activity it caused has finished, not when the last update
returned, so deliveries still in flight are not left out.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client

from bench.baseline import FloorWorkflow
from bench.common import (
    Bench,
    CpuClock,
    Report,
    Row,
    Running,
    Tally,
    bench_settings,
    bounded,
    dev_server,
    floor_worker,
    project_worker,
    unique,
)
from bench.histories import ChainStats, RunStats, Shape, run_chain, shape_of
from client.relationships import act, start_relationship
from mentorship import commands as c
from tests.factories import MENTEE, MENTOR, commitment, goals, log, request

NAME = "throughput"
MEETINGS = 3
RATIO_TARGET = 0.7
CONCURRENCY = 32


def base_size(quick: bool) -> int:
    return 3 if quick else 16


@dataclass
class Leg:
    """One side of a measurement: wall seconds, and CPU seconds of this process (client and
    worker) and of the Temporal server."""

    seconds: float
    cpu: float
    server_cpu: float

    def __add__(self, other: Leg) -> Leg:
        return Leg(
            self.seconds + other.seconds,
            self.cpu + other.cpu,
            self.server_cpu + other.server_cpu,
        )


@dataclass
class Point:
    """One measured size: the same N for the project and the floor."""

    n: int
    project: Leg
    floor: Leg
    updates_per_relationship: int
    activities_per_relationship: int
    events_per_relationship: int
    floor_events_per_relationship: int

    @property
    def project_rate(self) -> float:
        return self.n / self.project.seconds

    @property
    def floor_rate(self) -> float:
        return self.n / self.floor.seconds

    @property
    def ratio(self) -> float:
        return self.project_rate / self.floor_rate


async def _relationship(client: Client, task_queue: str, relationship_id: str) -> None:
    """Start, onboard, three meetings: the client calls an operator and a pair would make."""
    now = datetime.now(UTC)
    await start_relationship(client, request(relationship_id=relationship_id), task_queue, now)
    await act(client, relationship_id, goals())
    await act(client, relationship_id, commitment())
    await act(client, relationship_id, c.ConfirmAgreement(actor=MENTEE))
    await act(client, relationship_id, c.ConfirmAgreement(actor=MENTOR))
    for _ in range(MEETINGS):
        # Held just now: a meeting may be logged before its slot, never in the future.
        await act(client, relationship_id, log(MENTEE, datetime.now(UTC), notes="Notes"))


async def _floor(client: Client, task_queue: str, workflow_id: str, shape: Shape) -> None:
    handle = await client.start_workflow(
        FloorWorkflow.run, shape.plan, id=workflow_id, task_queue=task_queue
    )
    for step in shape.steps:
        await handle.execute_update(FloorWorkflow.step, step)


async def _warm_up(client: Client, running: Running) -> tuple[Shape, ChainStats]:
    """One relationship, untimed: loads everything, and its history gives the floor's shape."""
    warm = unique("warm")
    await _relationship(client, running.settings.task_queue, warm)
    histories = await run_chain(client, warm)
    shape = shape_of(histories)
    await running.tally.settled("the warm-up relationship's activities")
    return shape, ChainStats([RunStats.of(h) for h in histories])


async def _timed(
    ids: list[str],
    drive: Callable[[str], Awaitable[None]],
    tally: Tally,
    advance: Callable[[int], None],
) -> Leg:
    """From the first start until every activity the runs caused has finished."""
    clock = CpuClock()
    cpu, server_cpu = clock.read()
    started = time.perf_counter()
    await bounded(ids, drive, CONCURRENCY, advance)
    idle_at = await tally.settled("the batch's activities")
    cpu_after, server_after = clock.read()
    return Leg(idle_at - started, cpu_after - cpu, server_after - server_cpu)


def rounds_for(n: int) -> int:
    """Interleaved rounds (floor, project, project, floor, ...): a drift in the machine's
    load or in the server's growing database then weighs on both sides alike. Other work
    on a shared machine is the biggest source of noise; batches stay large enough to keep
    CONCURRENCY relationships in flight."""
    return max(1, min(4, n // CONCURRENCY))


async def measure(bench: Bench, client: Client, folder: Path, n: int) -> Point:
    """Both sides at one size, in interleaved rounds, each side on its own worker."""
    async with (
        project_worker(client, bench_settings(folder / f"project-{n}")) as project,
        floor_worker(client, bench_settings(folder / f"floor-{n}")) as floor,
    ):
        shape, project_stats = await _warm_up(client, project)
        await _floor(client, floor.settings.task_queue, unique("floor-warm"), shape)
        await floor.tally.settled("the floor warm-up")
        sides: dict[str, tuple[Callable[[str], Awaitable[None]], Tally]] = {
            "floor": (
                lambda wid: _floor(client, floor.settings.task_queue, wid, shape),
                floor.tally,
            ),
            "project": (
                lambda rid: _relationship(client, project.settings.task_queue, rid),
                project.tally,
            ),
        }
        legs = {side: Leg(0.0, 0.0, 0.0) for side in sides}
        rounds = rounds_for(n)
        label = f"{n} relationships and {n} minimal workflows, {rounds} rounds"
        with bench.bar(label, 2 * n) as advance:
            for index in range(rounds):
                batch = n // rounds + (1 if index < n % rounds else 0)
                order = ("floor", "project") if index % 2 == 0 else ("project", "floor")
                for side in order:
                    drive, tally = sides[side]
                    ids = [unique(f"{side}-{n}-{index}-{i}") for i in range(batch)]
                    legs[side] = legs[side] + await _timed(ids, drive, tally, advance)
        sample = unique("floor-sample")
        await _floor(client, floor.settings.task_queue, sample, shape)
        await floor.tally.settled("the floor sample")
        floor_events = len((await run_chain(client, sample))[0].events)
    return Point(
        n=n,
        project=legs["project"],
        floor=legs["floor"],
        updates_per_relationship=len(shape.steps),
        activities_per_relationship=shape.activities,
        events_per_relationship=project_stats.total("events"),
        floor_events_per_relationship=floor_events,
    )


def report_for(point: Point) -> Report:
    report = Report(
        NAME, f"2. Throughput: {point.n} relationships through onboarding + {MEETINGS} meetings"
    )
    report.add(
        Row(
            "relationships per second",
            point.project_rate,
            point.floor_rate,
            unit="rel/s",
            target=f"ratio >= {RATIO_TARGET}",
            ok=point.ratio >= RATIO_TARGET,
        ),
        Row(
            "updates per second",
            point.project_rate * point.updates_per_relationship,
            point.floor_rate * point.updates_per_relationship,
            unit="upd/s",
        ),
        Row("wall time", point.project.seconds, point.floor.seconds, unit="s"),
        Row(
            "client + worker CPU per relationship",
            point.project.cpu / point.n * 1000,
            point.floor.cpu / point.n * 1000,
            unit="ms",
        ),
        Row(
            "server CPU per relationship",
            point.project.server_cpu / point.n * 1000,
            point.floor.server_cpu / point.n * 1000,
            unit="ms",
        ),
        Row(
            "updates per relationship",
            point.updates_per_relationship,
            point.updates_per_relationship,
        ),
        Row(
            "activities per relationship",
            point.activities_per_relationship,
            point.activities_per_relationship,
        ),
        Row(
            "history events per relationship",
            point.events_per_relationship,
            point.floor_events_per_relationship,
        ),
    )
    report.notes.append(
        f"{CONCURRENCY} in flight, {rounds_for(point.n)} interleaved rounds; client and workers "
        "share one process; dev server file-backed; CPU is this process's and the server's"
    )
    return report


async def run(bench: Bench, sizes: list[int] | None = None) -> list[Point]:
    folder = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    points = []
    async with dev_server(folder) as env:
        for n in sizes or [base_size(bench.quick) * 16]:
            points.append(await measure(bench, env.client, folder, n))
    return points
