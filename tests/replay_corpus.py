"""The replay corpus: one recorded history per lifecycle path, every run of every chain,
for every release.

    .venv/bin/python -m tests.replay_corpus        # records this release, about 10 s

It runs each path below on the time-skipping server with the production worker and writes
each run's history to tests/replay/histories/v<X.Y>/<path>.run<N>.json.gz, X.Y being the
project's version (gzip keeps a release around 100 KiB; `zcat` shows one event per line),
and adds their checksums to histories/MANIFEST.sha256. `test_replay_corpus` replays every
release against the current code. When that fails, running relationships would fail the
same way on deploy: guard the change with `workflow.patched` or an upcaster. A released
history is never rewritten: the generator refuses a release already in the manifest, and
the test fails on a changed or missing file. Bump the version to record a new release.

Histories are scrubbed of what names the machine that recorded them (worker identities,
build ids, sticky queue names), so they replay the same anywhere.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from ledger.store import Ledger
from mentorship import commands as c
from mentorship.commands import ReviewDecision
from mentorship.enrolment import StartRelationship
from mentorship.events import Kind, Outcome
from mentorship.participants import Actor, Participant, Role
from mentorship.policy import Policy
from tests.factories import (
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    commitment,
    goals,
    log,
    reflection,
    request,
    review,
)
from tests.lifecycle import Lifecycle, Pair, answer_open_prompts
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings
from worker.temporal import data_converter, register_search_attributes

HISTORIES = Path(__file__).parent / "replay" / "histories"
MANIFEST = HISTORIES / "MANIFEST.sha256"
TASK_QUEUE = "replay-corpus"
SCRUBBED = "replay-corpus"
# Fields the server fills from the recording machine; the replayer never reads them.
_MACHINE_FIELDS = frozenset({"identity", "binaryChecksum", "buildId"})

# ------------------------------------------------------------------ helpers for the paths


async def onboard(pair: Pair, mentor: Actor = MENTOR, mentee: Actor = MENTEE) -> None:
    await pair.do(goals(actor=mentee))
    await pair.do(commitment(actor=mentor))
    await pair.do(c.ConfirmAgreement(actor=mentee))
    await pair.do(c.ConfirmAgreement(actor=mentor))


async def reflect(pair: Pair, mentor: Actor = MENTOR, mentee: Actor = MENTEE) -> None:
    await pair.do(reflection(mentor))
    await pair.do(reflection(mentee))


async def settle(pair: Pair) -> None:
    """Wait until the latest run has no workflow task in flight.

    After a sleep the time-skipping server may still be running a task that continues as new;
    a query or update sent in that instant can land on the closing run and never be answered.
    The test server does not report pending tasks, so the history's last event tells.
    """
    busy = (
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    )
    deadline = time.monotonic() + 30
    while True:
        history = await pair.life.env.client.get_workflow_handle(pair.id).fetch_history()
        if history.events[-1].event_type not in busy:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pair.id} kept a workflow task in flight for 30 s")
        await asyncio.sleep(0.05)


async def sleep(life: Lifecycle, pair: Pair, delta: timedelta) -> None:
    await life.sleep(delta)
    await settle(pair)


async def hold_next_meeting(life: Lifecycle, pair: Pair, **extra: Any) -> int:
    meeting = (await pair.status()).state.next_meeting
    assert meeting is not None, f"{pair.id} has no meeting scheduled"
    await life.sleep_until(meeting.scheduled_at + timedelta(hours=1))
    await settle(pair)
    await pair.do(log(MENTEE, meeting.scheduled_at, notes="Went through the RFC", **extra))
    return meeting.number


# ------------------------------------------------------------------ the lifecycle paths


async def full_year(life: Lifecycle) -> Pair:
    """The year in short: monthly meetings with wins and action items, a feedback loop, two
    reviews that continue as new, the end date, reflections, completed."""
    now = await life.now()
    policy = Policy(review_every=timedelta(days=42))
    pair = await life.start(request(end_date=(now + timedelta(days=100)).date(), policy=policy))
    await pair.do(goals(cadence=MONTHLY))
    await pair.do(commitment())
    await pair.do(c.ConfirmAgreement(actor=MENTEE))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    held = 0
    while (await pair.status()).state.phase.value in {"active", "under_review"}:
        if (await pair.status()).state.next_meeting is None:
            await sleep(life, pair, timedelta(days=1))
            continue
        extra: dict[str, Any] = {"action_items": ["Read the RFC"]} if held == 0 else {}
        await hold_next_meeting(life, pair, wins=["Gave the demo"] if held == 1 else [], **extra)
        held += 1
        await answer_open_prompts(pair)
    await reflect(pair)
    return pair


async def onboarding_expired(life: Lifecycle) -> Pair:
    pair = await life.start(request())
    await pair.do(goals())
    await life.sleep(timedelta(days=22))
    return pair


async def missed_meetings(life: Lifecycle) -> Pair:
    """Two missed meetings: at risk, a check-in, an early review that continues, then a cancel."""
    pair = await life.start(request())
    await onboard(pair)
    first = (await pair.status()).state.meetings[0].scheduled_at
    await life.sleep_until(first + timedelta(days=14 + 3 + 2, hours=1))
    await settle(pair)
    number = (await pair.status()).state.reviews[0].number
    await pair.do(review(MENTOR, number, ReviewDecision.CONTINUE, comment="Back on track"))
    await pair.do(review(MENTEE, number, ReviewDecision.CONTINUE))
    await pair.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    return pair


async def evolve(life: Lifecycle) -> Pair:
    """A requested review evolves the cadence (continue-as-new), then the pair concludes."""
    pair = await life.start(request())
    await onboard(pair)
    await pair.do(c.RequestReview(actor=MENTEE, reason="my role changed"))
    await pair.do(review(MENTEE, 1, ReviewDecision.EVOLVE, evolution=c.Evolution(cadence=MONTHLY)))
    await pair.do(review(MENTOR, 1, ReviewDecision.CONTINUE))
    await hold_next_meeting(life, pair, wins=["Ran the design review"])
    await pair.do(c.Conclude(actor=MENTEE, reason="goals reached"))
    await reflect(pair)
    return pair


async def early_conclusion(life: Lifecycle) -> Pair:
    pair = await life.start(request())
    await onboard(pair)
    await pair.do(c.SubmitAgenda(actor=MENTEE, meeting_number=1, items=["Career plan"]))
    await pair.do(c.Conclude(actor=MENTOR, reason="changing roles"))
    await reflect(pair)
    return pair


async def situational(life: Lifecycle) -> Pair:
    """A situational pair reaches its end date; the reflection deadline closes it."""
    now = await life.now()
    end = (now + timedelta(days=20)).date()
    pair = await life.start(request(kind=Kind.SITUATIONAL, end_date=end, topic="Launch"))
    await onboard(pair)
    await hold_next_meeting(life, pair)
    await life.sleep(timedelta(days=30))
    return pair


async def pause_resume(life: Lifecycle) -> Pair:
    pair = await life.start(request())
    await onboard(pair)
    await pair.do(c.Pause(actor=OPERATOR, reason="mentor on parental leave"))
    await sleep(life, pair, timedelta(days=20))
    await pair.do(c.Resume(actor=OPERATOR))
    await pair.do(
        c.ChangeCadence(actor=OPERATOR, cadence=MONTHLY, reason="lighter load after leave")
    )
    await hold_next_meeting(life, pair)
    await pair.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    return pair


async def extend(life: Lifecycle) -> Pair:
    """The operator extends the end date; the relationship outlives the old one."""
    now = await life.now()
    pair = await life.start(request(end_date=(now + timedelta(days=30)).date()))
    await onboard(pair)
    await pair.do(c.ExtendEndDate(actor=OPERATOR, end_date=(now + timedelta(days=90)).date()))
    await hold_next_meeting(life, pair)
    await sleep(life, pair, timedelta(days=30))
    await pair.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    return pair


async def reverse(life: Lifecycle) -> Pair:
    junior = Participant(id="dana", name="Dana Junior", email="dana@example.org")
    senior = Participant(id="vic", name="Vic Director", email="vic@example.org")
    mentor, mentee = Actor(role=Role.MENTOR, id="dana"), Actor(role=Role.MENTEE, id="vic")
    pair = await life.start(request(kind=Kind.REVERSE, mentor=junior, mentee=senior))
    await onboard(pair, mentor, mentee)
    meeting = (await pair.status()).state.meetings[0]
    await life.sleep_until(meeting.scheduled_at + timedelta(hours=1))
    await settle(pair)
    await pair.do(log(mentor, meeting.scheduled_at, wins=["Vic shipped his first pull request"]))
    await pair.do(c.Conclude(actor=mentee, reason="learned what I needed"))
    await reflect(pair, mentor, mentee)
    return pair


async def paused_onboarding(life: Lifecycle) -> Pair:
    """Paused before the agreement: reminders resume their rhythm; a meeting far before its
    date is an extra meeting; the operator extends the end date, then cancels (v0.2)."""
    now = await life.now()
    pair = await life.start(request(end_date=(now + timedelta(days=60)).date()))
    await pair.do(goals())
    await sleep(life, pair, timedelta(days=4))
    await pair.do(c.Pause(actor=OPERATOR, reason="mentor travelling"))
    await sleep(life, pair, timedelta(days=10))
    await pair.do(c.Resume(actor=OPERATOR))
    await sleep(life, pair, timedelta(days=3))
    await pair.do(commitment())
    await pair.do(c.ConfirmAgreement(actor=MENTEE))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    first = await hold_next_meeting(life, pair)
    await sleep(life, pair, timedelta(days=1))
    extra = log(MENTOR, await life.now() - timedelta(hours=1), notes="Unplanned catch-up")
    await pair.do(extra)
    await pair.do(c.ExtendEndDate(actor=OPERATOR, end_date=(now + timedelta(days=120)).date()))
    await pair.do(c.Cancel(actor=OPERATOR, reason=f"program closed after meeting {first}"))
    return pair


async def cancel(life: Lifecycle) -> Pair:
    pair = await life.start(request())
    await pair.do(goals())
    await pair.do(c.Cancel(actor=OPERATOR, reason="mentee left the company"))
    return pair


@dataclass(frozen=True)
class LifecyclePath:
    name: str
    drive: Callable[[Lifecycle], Awaitable[Pair]]
    outcome: Outcome


PATHS: tuple[LifecyclePath, ...] = (
    LifecyclePath("full_year", full_year, Outcome.COMPLETED),
    LifecyclePath("onboarding_expired", onboarding_expired, Outcome.NOT_STARTED),
    LifecyclePath("missed_meetings", missed_meetings, Outcome.CANCELLED),
    LifecyclePath("evolve", evolve, Outcome.CONCLUDED_EARLY),
    LifecyclePath("early_conclusion", early_conclusion, Outcome.CONCLUDED_EARLY),
    LifecyclePath("situational", situational, Outcome.COMPLETED),
    LifecyclePath("pause_resume", pause_resume, Outcome.CANCELLED),
    LifecyclePath("extend", extend, Outcome.CANCELLED),
    LifecyclePath("reverse", reverse, Outcome.CONCLUDED_EARLY),
    LifecyclePath("cancel", cancel, Outcome.CANCELLED),
    LifecyclePath("paused_onboarding", paused_onboarding, Outcome.CANCELLED),
)


# ------------------------------------------------------------------ recording


@dataclass
class _Recorder(Lifecycle):
    """Names each relationship after its path, so every path gets a workflow id of its own."""

    path: str = ""

    async def start(self, request: StartRelationship) -> Pair:
        return await super().start(request.model_copy(update={"relationship_id": self.path}))


def release() -> str:
    """This build's release, `X.Y` of the project's version."""
    version = metadata.version("mentorflow")
    return "v" + ".".join(version.split(".")[:2])


def releases(histories: Path = HISTORIES) -> list[Path]:
    return sorted(
        (p for p in histories.iterdir() if p.is_dir() and p.name.startswith("v")),
        key=lambda p: tuple(int(n) for n in p.name[1:].split(".")),
    )


def history_file(path: str, run: int, corpus: Path) -> Path:
    return corpus / f"{path}.run{run}.json.gz"


def checksum(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def manifest(histories: Path = HISTORIES) -> dict[str, str]:
    """`release/file` -> sha256, in `sha256sum -c` format."""
    entries: dict[str, str] = {}
    for line in (histories / MANIFEST.name).read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        entries[name.lstrip("*")] = digest
    return entries


def manifest_problems(histories: Path = HISTORIES) -> list[str]:
    """A history changed, removed or added without its checksum, in words."""
    listed = manifest(histories)
    present = {
        f"{r.name}/{f.name}": f for r in releases(histories) for f in sorted(r.glob("*.json.gz"))
    }
    problems = [f"{name}: listed in the manifest but missing" for name in listed.keys() - present]
    problems += [f"{name}: not in the manifest" for name in present.keys() - listed]
    problems += [
        f"{name}: changed since it was released (checksum differs)"
        for name, file in present.items()
        if name in listed and checksum(file) != listed[name]
    ]
    return sorted(problems)


def seal(corpus: Path, histories: Path = HISTORIES) -> None:
    """Add a newly recorded release to the manifest."""
    lines = [f"{checksum(f)}  {corpus.name}/{f.name}" for f in sorted(corpus.glob("*.json.gz"))]
    with (histories / MANIFEST.name).open("a") as out:
        out.write("".join(f"{line}\n" for line in lines))


def load(file: Path) -> WorkflowHistory:
    """A corpus file as the replayer takes it; the workflow id is the file's path name."""
    return WorkflowHistory.from_json(
        file.name.split(".")[0], gzip.decompress(file.read_bytes()).decode()
    )


def scrub(node: Any) -> Any:
    """Drop what names the recording machine; sticky queues carry the host name too."""
    if isinstance(node, list):
        return [scrub(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key in _MACHINE_FIELDS and isinstance(value, str):
            cleaned[key] = SCRUBBED if key == "identity" else ""
        elif (
            key == "taskQueue"
            and isinstance(value, dict)
            and value.get("kind", "").endswith("STICKY")
        ):
            cleaned[key] = {**value, "name": f"{SCRUBBED}-sticky"}
        else:
            cleaned[key] = scrub(value)
    return cleaned


def dump(history: dict[str, Any]) -> str:
    """Compact, one event per line, so `zcat` shows a history event by event."""
    events = ",\n".join(
        json.dumps(e, separators=(",", ":"), sort_keys=True) for e in history["events"]
    )
    return f'{{"events": [\n{events}\n]}}\n'


async def run_chain(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a relationship, first to last, following continue-as-new backwards."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return histories[::-1]
        run_id = started.continued_execution_run_id


async def record(life: _Recorder, path: LifecyclePath, corpus: Path) -> list[Path]:
    life.path = path.name
    pair = await path.drive(life)
    result = await pair.result()
    if result.outcome is not path.outcome:
        raise RuntimeError(f"{path.name} ended {result.outcome.value}, not {path.outcome.value}")
    written = []
    for number, history in enumerate(await run_chain(life.env.client, pair.id), start=1):
        target = history_file(path.name, number, corpus)
        text = dump(scrub(json.loads(history.to_json())))
        target.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
        written.append(target)
    return written


async def generate(out: Path) -> list[Path]:
    from tests.conftest import installed_binary

    if any(name.startswith(f"{out.name}/") for name in manifest()):
        raise SystemExit(
            f"{out.name} is released (in {MANIFEST.name}); released histories are never "
            "rewritten. Bump the version in pyproject.toml to record a new release."
        )
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json*"):
        old.unlink()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    written: list[Path] = []
    async with env:
        await register_search_attributes(env.client, "default")
        with tempfile.TemporaryDirectory() as scratch:
            settings = Settings(
                task_queue=TASK_QUEUE,
                data_dir=Path(scratch),
                ledger_url=f"sqlite:///{Path(scratch) / 'ledger.db'}",
            )
            ledger = Ledger.from_url(settings.resolved_ledger_url)
            try:
                async with build_worker(
                    env.client, settings, lifecycle_activities(settings, ledger)
                ):
                    life = _Recorder(env, settings, ledger)
                    for path in PATHS:
                        files = await record(life, path, out)
                        written += files
                        print(f"{path.name}: {len(files)} run(s)", file=sys.stderr)
            finally:
                ledger.dispose()
    return written


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    corpus = HISTORIES / release()
    files = asyncio.run(generate(corpus))
    seal(corpus)
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {len(files)} histories ({size // 1024} KiB) to {corpus}", file=sys.stderr)


if __name__ == "__main__":
    main()
