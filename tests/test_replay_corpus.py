"""Recorded histories of every lifecycle path replay against the current workflow code.

A failure here means running relationships would break on deploy: guard the change with
`workflow.patched`, or, if no relationship runs the old code anywhere, regenerate the corpus
(`python -m tests.replay_corpus`) in the same commit as the change.
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.replay.variants import GraceTimerFirst, NeverContinuesAsNew
from tests.replay_corpus import CORPUS, PATHS, SCRUBBED, TASK_QUEUE, history_file, load
from worker.app import workflow_runner
from worker.temporal import data_converter
from workflows.mentorship_workflow import MentorshipWorkflow

FILES = sorted(CORPUS.glob("*.json.gz"))
CONTINUED = "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
COMPLETED = "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


def events(file: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(gzip.decompress(file.read_bytes()))["events"]
    return found


def runs_of(path: str) -> list[Path]:
    runs: list[Path] = []
    while (file := history_file(path, len(runs) + 1)).exists():
        runs.append(file)
    return runs


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The one `...EventAttributes` member of an event, whatever its type."""
    found: dict[str, Any] = next(v for k, v in event.items() if k.endswith("EventAttributes"))
    return found


async def replay_each(workflow: type) -> dict[str, BaseException]:
    """Replay every corpus file with the production converter and sandbox; failures by file."""
    replayer = Replayer(
        workflows=[workflow], data_converter=data_converter(), workflow_runner=workflow_runner()
    )
    failures: dict[str, BaseException] = {}
    for file in FILES:
        result = await replayer.replay_workflow(load(file), raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[file.name] = result.replay_failure
    return failures


@pytest.mark.parametrize("path", [p.name for p in PATHS])
def test_each_lifecycle_path_is_recorded_with_every_run_of_its_chain(path: str) -> None:
    runs = runs_of(path)
    assert runs, f"no history for '{path}': run `python -m tests.replay_corpus`"
    for earlier, later in itertools.pairwise(runs):
        ended = events(earlier)[-1]
        assert ended["eventType"] == CONTINUED, f"{earlier.name} does not continue as new"
        started = attributes(events(later)[0])
        assert attributes(ended)["newExecutionRunId"] == started["originalExecutionRunId"]
    assert events(runs[-1])[-1]["eventType"] == COMPLETED, f"{runs[-1].name} never completed"


def test_the_corpus_holds_only_known_paths_and_stays_small() -> None:
    known = {p.name for p in PATHS}
    assert {f.name.split(".")[0] for f in FILES} == known
    assert sum(f.stat().st_size for f in FILES) < 400_000


def test_histories_carry_nothing_of_the_machine_that_recorded_them() -> None:
    for file in FILES:
        for event in events(file):
            body = attributes(event)
            if "identity" in body:
                assert body["identity"] == SCRUBBED, f"{file.name}#{event['eventId']}"
            queue = body.get("taskQueue", {}).get("name")
            assert queue in (None, TASK_QUEUE, f"{SCRUBBED}-sticky"), f"{file.name}: {queue}"


async def test_the_corpus_replays_against_the_current_workflow() -> None:
    assert FILES, "the corpus is empty: run `python -m tests.replay_corpus`"
    assert await replay_each(MentorshipWorkflow) == {}


async def test_an_unpatched_timer_before_the_lifecycle_is_caught_in_every_first_run() -> None:
    failures = await replay_each(GraceTimerFirst)
    first_runs = {f.name for f in FILES if ".run1." in f.name}
    assert first_runs <= set(failures)
    assert all(isinstance(e, NondeterminismError) for e in failures.values())


async def test_dropping_continue_as_new_is_caught_in_exactly_the_runs_that_continued() -> None:
    failures = await replay_each(NeverContinuesAsNew)
    continued = {f.name for f in FILES if events(f)[-1]["eventType"] == CONTINUED}
    assert continued, "the corpus needs runs that continued as new"
    assert set(failures) == continued
    assert all(isinstance(e, NondeterminismError) for e in failures.values())
