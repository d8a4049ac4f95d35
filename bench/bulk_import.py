"""5. Bulk import: a roster of N pairs through `mentorflow import`'s own code path.

The roster is a CSV file; the import reads it, checks every row, then starts each pair with
the CLI's `start_rows` (its default concurrency, through `cli.connection`, so settings come
from the environment as they would for an operator). The floor starts the same workflows
with bare `client.start_workflow` calls, inputs prepared in advance, at the same
concurrency. No worker runs: this is the cost of getting a program under way. Rounds are
interleaved (floor, import, import, floor) so a drift in the machine's load weighs on both.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.progress import Progress
from temporalio.client import Client

from bench.common import Bench, Report, Row, bounded, dev_server, unique
from cli import connection
from cli.relationship_commands import read_roster, start_rows
from client.roster_import import ROSTER_COLUMNS, check_rows
from mentorship.enrolment import StartRelationship
from mentorship.participants import Participant
from tests.factories import ALICE, OPS, request
from workflows.contract import TASK_QUEUE, RelationshipInput
from workflows.mentorship_workflow import MentorshipWorkflow

NAME = "import"
RATIO_TARGET = 0.8
CONCURRENCY = 16  # `mentorflow import --concurrency` default
ROUNDS = 2


def size(quick: bool) -> int:
    return 200 if quick else 2000


def write_roster(path: Path, prefix: str, rows: int) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=ROSTER_COLUMNS)
        writer.writeheader()
        for i in range(rows):
            writer.writerow(
                {
                    "program": "eng-2026",
                    "kind": "traditional",
                    "mentor_id": ALICE.id,
                    "mentor_name": ALICE.name,
                    "mentor_email": ALICE.email,
                    "mentee_id": f"mentee-{i}",
                    "mentee_name": f"Mentee {i}",
                    "mentee_email": f"mentee-{i}@example.org",
                    "operator_id": OPS.id,
                    "operator_name": OPS.name,
                    "operator_email": OPS.email,
                    "end_date": "",
                    "topic": "",
                    "relationship_id": f"{prefix}-{i}",
                }
            )


async def import_roster(path: Path) -> int:
    """`mentorflow import ROSTER`, minus printing the result table."""
    now = datetime.now(UTC)
    rows, defaults = read_roster(path)
    check_rows(rows, defaults, now)
    bad = [r for r in rows if r.problem]
    if bad:
        raise RuntimeError(f"the benchmark roster has bad rows: {bad[0].problem}")
    outcomes = await start_rows(rows, now, CONCURRENCY, Progress(disable=True))
    failed = [o for o in outcomes if o.result != "started"]
    if failed:
        raise RuntimeError(f"{len(failed)} rows did not start: {failed[0].reason}")
    return len(outcomes)


async def raw_starts(client: Client, requests: list[StartRelationship], queue: str) -> int:
    async def one(req: StartRelationship) -> None:
        await client.start_workflow(
            MentorshipWorkflow.run,
            RelationshipInput(relationship_id=req.workflow_id, request=req),
            id=req.workflow_id,
            task_queue=queue,
        )

    await bounded(requests, one, CONCURRENCY)
    return len(requests)


def _point_cli_at(client: Client, task_queue: str) -> None:
    """The CLI reads its settings from the environment, once; point it at this server."""
    os.environ["TEMPORAL_ADDRESS"] = client.service_client.config.target_host
    os.environ["MENTORFLOW_TASK_QUEUE"] = task_queue
    connection.settings.cache_clear()


async def run(bench: Bench, n: int | None = None) -> Report:
    n = n or size(bench.quick)
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    seconds = {"import": 0.0, "raw": 0.0}
    saved = {k: os.environ.get(k) for k in ("TEMPORAL_ADDRESS", "MENTORFLOW_TASK_QUEUE")}
    async with dev_server(folder / "server") as env:
        queue = f"{TASK_QUEUE}-{unique('import')}"
        _point_cli_at(env.client, queue)
        try:
            with bench.bar(f"import: {n} rows, and {n} raw starts", 2 * n) as advance:
                for index in range(ROUNDS):
                    batch = n // ROUNDS + (1 if index < n % ROUNDS else 0)
                    order = ("raw", "import") if index % 2 == 0 else ("import", "raw")
                    for side in order:
                        prefix = unique(f"{side}{index}")
                        roster = folder / f"{prefix}.csv"
                        write_roster(roster, prefix, batch)
                        requests = [
                            request(
                                relationship_id=f"{prefix}-{i}",
                                mentee=Participant(
                                    id=f"mentee-{i}",
                                    name=f"Mentee {i}",
                                    email=f"mentee-{i}@example.org",
                                ),
                            )
                            for i in range(batch)
                        ]
                        started = time.perf_counter()
                        if side == "import":
                            await import_roster(roster)
                        else:
                            await raw_starts(env.client, requests, queue)
                        seconds[side] += time.perf_counter() - started
                        advance(batch)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            connection.settings.cache_clear()
    rate, raw_rate = n / seconds["import"], n / seconds["raw"]
    report = Report(NAME, f"5. Bulk import: a {n:,}-row roster")
    report.add(
        Row(
            "rows per second",
            rate,
            raw_rate,
            unit="rows/s",
            target=f"ratio >= {RATIO_TARGET}",
            ok=rate / raw_rate >= RATIO_TARGET,
        ),
        Row("wall time", seconds["import"], seconds["raw"], unit="s"),
    )
    report.notes.append(
        f"import = read CSV + check every row + start_rows (client/roster_import.py) at "
        f"concurrency {CONCURRENCY}; baseline = bare start_workflow, inputs prepared, same "
        f"concurrency; {ROUNDS} interleaved rounds; dev server file-backed; no worker running"
    )
    return report
