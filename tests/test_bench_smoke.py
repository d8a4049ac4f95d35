"""The benchmarks at a tiny size: the harness still runs and its figures still mean something.

No timing thresholds: the figures depend on the machine. What must hold anywhere is that
each benchmark drives real work on both sides, counts it, and computes its ratio.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

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
from bench.common import Bench, Report
from bench.run import cli


def _bench() -> Bench:
    return Bench(quick=True, quiet=True)


def _sane(report: Report, *metrics: str) -> None:
    for metric in metrics:
        row = report.row(metric)
        assert row.project is not None and row.project > 0, f"{metric}: {row.project}"
        assert row.ratio is not None and math.isfinite(row.ratio) and row.ratio > 0, metric


async def test_lifecycle_cost_counts_every_run_of_the_relationship() -> None:
    report = await lifecycle_cost.run(_bench(), days=60)

    assert report.row("meetings held").project == 4
    _sane(
        report,
        "wall time per relationship-year",
        "history events per meeting cycle",
        "largest run",
        "workflow tasks",
        "updates",
    )
    # The floor does exactly the project's Temporal work, only without the domain.
    for metric in ("updates", "timers started"):
        row = report.row(metric)
        assert row.project == row.baseline, metric
    events = report.row("history events, all runs").project
    assert events is not None and events >= report.row("largest run").project  # type: ignore[operator]
    rows = report.row("ledger rows").project
    assert rows is not None and rows > 4 * 3  # at least the meetings and their scheduling


@pytest.mark.devserver
async def test_throughput_drives_both_sides_to_the_same_shape() -> None:
    (point,) = await throughput.run(_bench(), [2])

    assert point.n == 2
    assert point.updates_per_relationship == 4 + throughput.MEETINGS
    assert point.activities_per_relationship > 0
    assert point.project.seconds > 0 and point.floor.seconds > 0
    assert point.events_per_relationship > point.updates_per_relationship
    _sane(throughput.report_for(point), "relationships per second", "updates per second")


@pytest.mark.devserver
async def test_memory_shows_what_the_passthrough_saves() -> None:
    curves = await memory.run(_bench(), [8])

    assert {c.samples[-1].n for c in curves.values()} == {8, memory.unpassed_size(8)}
    assert all(c.warm_rss > 0 for c in curves.values())
    project = curves["project"].per_relationship_kib(8)
    unpassed = curves["unpassed"].per_relationship_kib(memory.unpassed_size(8))
    # A domain imported afresh by every cached run costs megabytes, not kilobytes.
    assert unpassed > project
    report = memory.report_for(curves)
    assert report.row("worker RSS per cached relationship").baseline is not None


def test_a_memory_curve_that_stopped_short_is_reported_as_not_measured() -> None:
    sample = memory.Sample(8, 100 + 8 * 1024, 1.0)
    measured = memory.Curve("project", warm_rss=100, samples=[sample])
    floor = memory.Curve("floor", warm_rss=100, samples=[sample])
    stopped = memory.Curve("unpassed", warm_rss=100, failed="RPCError: Timeout expired")
    report = memory.report_for({"project": measured, "floor": floor, "unpassed": stopped})

    assert report.row("worker RSS per cached relationship").project == 1.0
    assert "unpassed: NOT MEASURED past 0 (RPCError: Timeout expired)" in report.notes


@pytest.mark.devserver
async def test_the_cli_is_timed_against_python_and_the_temporal_cli() -> None:
    report = await cli_speed.run(_bench())

    _sane(
        report,
        "`mentorflow --help` vs `python -c pass`",
        "`mentorflow status ID` vs `temporal workflow query`",
    )


def test_audit_speed_times_each_command_against_the_raw_rows() -> None:
    report = audit_speed.run(_bench(), years=1)

    timed = [r for r in report.rows if r.unit == "ms"]
    assert len(timed) == 7
    for row in timed:
        assert row.project is not None and row.project > 0
        assert row.ratio is not None and row.ratio > 0
    assert "ledger events" in report.title


@pytest.mark.devserver
async def test_bulk_import_goes_through_the_cli_import_path() -> None:
    report = await bulk_import.run(_bench(), n=6)

    _sane(report, "rows per second", "wall time")


def test_scaling_reports_cost_per_relationship_at_each_size() -> None:
    leg = throughput.Leg(seconds=2.0, cpu=1.0, server_cpu=1.0)
    points = [
        throughput.Point(
            n,
            leg,
            leg,
            updates_per_relationship=7,
            activities_per_relationship=7,
            events_per_relationship=90,
            floor_events_per_relationship=80,
        )
        for n in (1, 4, 16)
    ]
    curve = memory.Curve("project", warm_rss=100, samples=[memory.Sample(16, 100 + 16 * 1024, 1.0)])
    report = scaling.report_for(points, {"project": curve, "floor": curve})

    assert [r.project for r in report.rows[:3]] == [2000.0, 500.0, 125.0]
    assert report.rows[-1].project == 1.0


def test_carried_state_sets_the_pruned_input_against_the_unpruned_one() -> None:
    report = carried_state.run(_bench(), years=1)

    _sane(
        report,
        "continue-as-new input after 1 year",
        "largest input at any decision within 1 year",
        "after 1 year, every win a new text",
    )
    after = report.row("continue-as-new input after 1 year")
    assert after.ok is not None, "the last year is the one held against the target"
    assert after.ratio is not None and after.ratio < 1, "pruning carries less than v0.1"


@pytest.mark.postgres
async def test_the_read_model_is_timed_on_both_backends_against_plain_sql() -> None:
    report = await read_model.run(_bench(), count=12)

    for backend in ("SQLite", "PostgreSQL"):
        _sane(
            report,
            f"{backend}: `report` in process vs plain SQL on the summaries",
            f"{backend}: `list --at-risk` in process vs plain SQL on the summaries",
            f"{backend}: `report` vs one scan of the events",
        )
        for command in ("report", "list --at-risk"):
            row = report.row(f"{backend}: `mentorflow {command}` command")
            assert row.project is not None and row.project > 0 and row.ok is not None
    assert "ledger rows per backend" in report.notes[0]


def test_the_runner_runs_quick_benchmarks_end_to_end_and_writes_their_figures(
    tmp_path: Path,
) -> None:
    """The whole `--quick` run takes about three minutes, too long for the suite: the runner
    itself (order, tables, targets, JSON) is driven here through two of its fastest, in its
    own process as `make bench` runs it (it sets the process's logging and Temporal runtime)."""
    figures = tmp_path / "bench.json"
    args = ["--quick", "--only", "audit", "--only", "carried", "--json", str(figures)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parent.parent,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "mode: quick" in done.stdout and "all benchmarks:" in done.stdout
    data = json.loads(figures.read_text())
    assert data["quick"] is True and data["machine"]["cores"] >= 1
    assert [r["name"] for r in data["reports"]] == [audit_speed.NAME, carried_state.NAME]
    for report in data["reports"]:
        assert report["seconds"] > 0
        ratios = [row["ratio"] for row in report["rows"] if row["ratio"] is not None]
        assert ratios and all(math.isfinite(r) and r > 0 for r in ratios), report["name"]


def test_the_runner_refuses_an_unknown_benchmark_by_name() -> None:
    result = CliRunner().invoke(cli, ["--only", "speed"])

    assert result.exit_code != 0
    assert "unknown benchmark speed" in result.output


async def test_the_portal_load_logs_every_meeting_and_times_it_against_a_static_page() -> None:
    report = await portal_load.run(_bench(), count=4)
    assert report.row("meetings logged").project == 4 and report.missed == []
    _sane(report, "open page p95", "submit log p95")
    assert report.row("open page p95").ratio is not None
