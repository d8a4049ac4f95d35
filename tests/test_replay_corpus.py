"""Recorded histories of every lifecycle path, of every release, replay against today's code.

A failure here means running relationships would break on deploy: guard the change with
`workflow.patched` (see mentorship/revisions.py) or an upcaster. Released histories are never
rewritten (`MANIFEST.sha256`); `python -m tests.replay_corpus` records a new release beside them.
"""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.replay.variants import ExtraEventOnMeetingLog, GraceTimerFirst, NeverContinuesAsNew
from tests.replay_corpus import (
    HISTORIES,
    PATHS,
    SCRUBBED,
    TASK_QUEUE,
    history_file,
    load,
    manifest,
    manifest_problems,
    release,
    releases,
)
from worker.app import workflow_runner
from worker.temporal import data_converter
from workflows.mentorship_workflow import MentorshipWorkflow

RELEASES = releases()
FILES = sorted(f for r in RELEASES for f in r.glob("*.json.gz"))
# Releases whose ledger writes return the chain head, so domain drift shows in replay.
HEADED = [r for r in RELEASES if r.name not in ("v0.0", "v0.1")]
CONTINUED = "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
COMPLETED = "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


def name(file: Path) -> str:
    return f"{file.parent.name}/{file.name}"


def events(file: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(gzip.decompress(file.read_bytes()))["events"]
    return found


def runs_of(corpus: Path, path: str) -> list[Path]:
    runs: list[Path] = []
    while (file := history_file(path, len(runs) + 1, corpus)).exists():
        runs.append(file)
    return runs


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The one `...EventAttributes` member of an event, whatever its type."""
    found: dict[str, Any] = next(v for k, v in event.items() if k.endswith("EventAttributes"))
    return found


def logs_a_meeting(file: Path) -> bool:
    return any(
        attributes(e).get("acceptedRequest", {}).get("input", {}).get("name") == "log_meeting"
        for e in events(file)
    )


async def replay_each(workflow: type, files: list[Path] = FILES) -> dict[str, BaseException]:
    """Replay corpus files with the production converter and sandbox; failures by file."""
    replayer = Replayer(
        workflows=[workflow], data_converter=data_converter(), workflow_runner=workflow_runner()
    )
    failures: dict[str, BaseException] = {}
    for file in files:
        result = await replayer.replay_workflow(load(file), raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[name(file)] = result.replay_failure
    return failures


def test_the_corpus_holds_the_released_histories_and_this_release() -> None:
    assert {r.name for r in RELEASES} >= {"v0.0", "v0.1", release()}, (
        f"no histories for {release()}: run `python -m tests.replay_corpus`"
    )


RECORDED = [
    (corpus, path)
    for corpus in RELEASES
    for path in sorted({f.name.split(".")[0] for f in corpus.glob("*.json.gz")})
]


@pytest.mark.parametrize(("corpus", "path"), RECORDED, ids=[f"{c.name}-{p}" for c, p in RECORDED])
def test_each_lifecycle_path_is_recorded_with_every_run_of_its_chain(
    corpus: Path, path: str
) -> None:
    runs = runs_of(corpus, path)
    assert runs and runs[0].name == f"{path}.run1.json.gz", f"{path} lacks its first run"
    for earlier, later in itertools.pairwise(runs):
        ended = events(earlier)[-1]
        assert ended["eventType"] == CONTINUED, f"{name(earlier)} does not continue as new"
        started = attributes(events(later)[0])
        assert attributes(ended)["newExecutionRunId"] == started["originalExecutionRunId"]
    assert events(runs[-1])[-1]["eventType"] == COMPLETED, f"{name(runs[-1])} never completed"


def test_each_release_holds_known_paths_this_one_all_of_them_and_stays_small() -> None:
    known = {p.name for p in PATHS}
    for corpus in RELEASES:
        files = list(corpus.glob("*.json.gz"))
        recorded = {f.name.split(".")[0] for f in files}
        assert recorded <= known, corpus.name
        if corpus.name == release():
            assert recorded == known, f"{corpus.name} lacks {sorted(known - recorded)}"
        assert sum(f.stat().st_size for f in files) < 400_000, corpus.name


def test_every_released_history_is_unchanged() -> None:
    assert manifest_problems() == []
    assert {n.split("/")[0] for n in manifest()} == {r.name for r in RELEASES}


def test_a_changed_or_removed_history_fails_the_manifest_check(tmp_path: Path) -> None:
    copy = tmp_path / "histories"
    shutil.copytree(HISTORIES, copy)
    changed = copy / "v0.1" / "cancel.run1.json.gz"
    changed.write_bytes(changed.read_bytes() + b"\0")
    (copy / "v0.0" / "evolve.run2.json.gz").unlink()
    (copy / "v0.1" / "stray.run1.json.gz").write_bytes(b"")
    assert manifest_problems(copy) == [
        "v0.0/evolve.run2.json.gz: listed in the manifest but missing",
        "v0.1/cancel.run1.json.gz: changed since it was released (checksum differs)",
        "v0.1/stray.run1.json.gz: not in the manifest",
    ]


def test_histories_carry_nothing_of_the_machine_that_recorded_them() -> None:
    for file in FILES:
        for event in events(file):
            body = attributes(event)
            if "identity" in body:
                assert body["identity"] == SCRUBBED, f"{name(file)}#{event['eventId']}"
            queue = body.get("taskQueue", {}).get("name")
            assert queue in (None, TASK_QUEUE, f"{SCRUBBED}-sticky"), f"{name(file)}: {queue}"


async def test_every_release_replays_against_the_current_workflow() -> None:
    assert FILES, "the corpus is empty: run `python -m tests.replay_corpus`"
    assert await replay_each(MentorshipWorkflow) == {}


async def test_an_unpatched_timer_before_the_lifecycle_is_caught_in_every_first_run() -> None:
    failures = await replay_each(GraceTimerFirst)
    first_runs = {name(f) for f in FILES if ".run1." in f.name}
    assert first_runs <= set(failures)
    assert all(isinstance(e, NondeterminismError) for e in failures.values())


async def test_dropping_continue_as_new_is_caught_in_exactly_the_runs_that_continued() -> None:
    failures = await replay_each(NeverContinuesAsNew)
    continued = {name(f) for f in FILES if events(f)[-1]["eventType"] == CONTINUED}
    assert continued, "the corpus needs runs that continued as new"
    assert set(failures) == continued
    assert all(isinstance(e, NondeterminismError) for e in failures.values())


async def test_one_more_event_from_a_meeting_log_is_caught_by_the_ledger_head() -> None:
    """Domain drift: Temporal sees the same commands, the ledger's chain head does not match."""
    assert HEADED, "no release records chain heads yet"
    files = sorted(f for r in HEADED for f in r.glob("*.json.gz"))
    logged = {name(f) for f in files if logs_a_meeting(f)}
    assert logged, "the corpus needs runs that log a meeting"
    failures = await replay_each(ExtraEventOnMeetingLog, files)
    assert set(failures) == logged
    assert all("without workflow.patched" in str(e) for e in failures.values())
