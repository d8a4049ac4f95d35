"""1. Lifecycle cost: a bi-weekly relationship's whole year, and what it costs Temporal.

On the time-skipping server: 26 meetings, feedback every third, quarterly reviews (each one
a continue-as-new), then the conclusion. The floor replays the same number of updates,
activities and timers in a workflow with no domain in it.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from bench.baseline import FloorWorkflow
from bench.common import (
    Bench,
    Report,
    Row,
    bench_settings,
    floor_worker,
    project_worker,
    stopwatch,
    time_skipping_server,
    unique,
)
from bench.histories import ChainStats, RunStats, run_chain, shape_of
from mentorship import commands as c
from mentorship.events import Outcome
from tests.factories import (
    MENTEE,
    MENTOR,
    commitment,
    goals,
    reflection,
    request,
)
from tests.lifecycle import Lifecycle, Pair, answer_open_prompts, hold_next_meeting

NAME = "lifecycle"
EVENTS_PER_CYCLE_TARGET = 40
LARGEST_RUN_TARGET = 2_000
YEAR = 365


async def drive(life: Lifecycle, days: int, bench: Bench) -> tuple[Pair, int]:
    """Onboarding, every meeting until the end date, the reflections; returns meetings held."""
    start = await life.now()
    pair = await life.start(request(end_date=(start + timedelta(days=days)).date()))
    await pair.do(goals())
    await pair.do(commitment())
    cadence, fmt = goals().proposed_cadence, goals().proposed_format
    terms = c.AgreementTerms(cadence=cadence, format=fmt, first_meeting_at=start + timedelta(7))
    await pair.do(c.ConfirmAgreement(actor=MENTEE, terms=terms))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    held = 0
    with bench.bar("a relationship-year, meeting by meeting", total=days // 14) as advance:
        while (await pair.status()).state.phase.value in {"active", "under_review"}:
            if (await pair.status()).state.next_meeting is None:
                await life.sleep(timedelta(days=1))
                continue
            await hold_next_meeting(pair, wins=["Gave the demo"] if held % 5 == 0 else [])
            held += 1
            advance(1)
            await answer_open_prompts(pair)
    await pair.do(reflection(MENTOR))
    await pair.do(reflection(MENTEE))
    result = await pair.result()
    if result.outcome is not Outcome.COMPLETED:
        raise RuntimeError(f"the benchmark year ended {result.outcome.value}, not completed")
    return pair, held


def _rows(project: ChainStats, floor: ChainStats, held: int, ledger_rows: int) -> list[Row]:
    def both(metric: str, name: str) -> Row:
        return Row(metric, project.total(name), floor.total(name))

    per_cycle = project.total("events") / held
    return [
        Row("meetings held", held),
        Row("runs (continue-as-new chain)", len(project.runs), len(floor.runs)),
        both("history events, all runs", "events"),
        Row(
            "history events per meeting cycle",
            per_cycle,
            floor.total("events") / held,
            target=f"< {EVENTS_PER_CYCLE_TARGET}",
            ok=per_cycle < EVENTS_PER_CYCLE_TARGET,
        ),
        Row(
            "largest run",
            project.largest_run,
            floor.largest_run,
            unit="events",
            target=f"<= {LARGEST_RUN_TARGET:,}",
            ok=project.largest_run <= LARGEST_RUN_TARGET,
        ),
        both("workflow tasks", "workflow_tasks"),
        both("updates", "updates"),
        both("activities (ledger writes, retried sends)", "activities"),
        both("local activities", "local_activities"),
        both("timers started", "timers"),
        both("search attribute upserts", "upserts"),
        Row("ledger rows", ledger_rows),
    ]


def _runs_note(runs: list[RunStats]) -> str:
    return "events per run: " + ", ".join(f"{r.events}" for r in runs)


async def run(bench: Bench, days: int = YEAR) -> Report:
    report = Report(NAME, f"1. Lifecycle cost: one bi-weekly relationship, {days} days")
    folder = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    async with time_skipping_server() as env:
        async with project_worker(env.client, bench_settings(folder / "project")) as running:
            assert running.ledger is not None
            life = Lifecycle(env, running.settings, running.ledger)
            span_start = await life.now()
            with stopwatch() as project_watch:
                pair, held = await drive(life, days, bench)
            span = await life.now() - span_start
            histories = await run_chain(env.client, pair.id)
            ledger_rows = len(running.ledger.events(pair.id))
        project = ChainStats([RunStats.of(h) for h in histories])
        shape = shape_of(histories)
        shape.plan.timer_every = span / max(shape.plan.timers, 1)
        async with floor_worker(env.client, bench_settings(folder / "floor")) as floor:
            with stopwatch() as floor_watch:
                handle = await env.client.start_workflow(
                    FloorWorkflow.run,
                    shape.plan,
                    id=unique("floor-year"),
                    task_queue=floor.settings.task_queue,
                )
                for step in shape.steps:
                    await handle.execute_update(FloorWorkflow.step, step)
                await handle.result()
            floor_stats = ChainStats(
                [RunStats.of(h) for h in await run_chain(env.client, handle.id)]
            )
    per_year = YEAR / days
    report.add(
        Row(
            "wall time per relationship-year",
            project_watch.seconds * per_year,
            floor_watch.seconds * per_year,
            unit="s",
        )
    )
    report.add(*_rows(project, floor_stats, held, ledger_rows))
    report.notes += [
        _runs_note(project.runs),
        "wall time includes the driver's status queries and time skips; the floor sends its "
        "updates back to back and lets the test server skip through its timers",
    ]
    return report
