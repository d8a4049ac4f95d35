"""No command hangs, no id is started twice, a blocked ledger is seen: on the real dev server.

Temporal's retention is played by deleting a relationship's run: its history stays in the
ledger, and Temporal no longer knows the id, exactly as a year after the run closed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from cli.app import app
from cli.exit_codes import ExitCode
from client.relationships import start_relationship
from client.relationships import status as query_status
from ledger.store import Ledger, events_table
from tests.factories import request
from tests.lifecycle import Lifecycle
from tests.test_cli_commands import (  # noqa: F401 _logs_off_stdout is an autouse fixture
    Cli,
    _logs_off_stdout,
    eventually,
    point_cli_at,
)
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings

GOALS = (
    *("--objective", "Lead a design review end to end"),
    *("--proposed-cadence", "biweekly", "--proposed-format", "virtual"),
)
COMMITMENT = (
    *("--capacity", "4", "--availability", "Tuesdays"),
    *("--expertise", "design", "--communication", "email"),
)


def pair_flags(program: str, mentor: str, mentee: str) -> tuple[str, ...]:
    """`mentorflow start` flags for one pair, as `Cli.start` sends them."""
    return (
        *("--program", program),
        *("--mentor-id", mentor, "--mentor-name", mentor.title()),
        *("--mentor-email", f"{mentor}@example.org"),
        *("--mentee-id", mentee, "--mentee-name", mentee.title()),
        *("--mentee-email", f"{mentee}@example.org"),
    )


async def known_to_temporal(client: Client, relationship_id: str) -> bool:
    try:
        await client.get_workflow_handle(relationship_id).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def retention_passes(client: Client, relationship_id: str) -> None:
    """What retention does to a closed run, at once: Temporal forgets the id."""
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=relationship_id),
        )
    )

    async def forgotten() -> bool:
        return not await known_to_temporal(client, relationship_id)

    await eventually(forgotten, f"Temporal forgets {relationship_id}")


async def a_relationship_from_long_ago(cli: Cli, life: Lifecycle) -> str:
    """Alice and Bob ran once: their events are in the ledger, Temporal has forgotten them."""
    rid = await cli.start("alice", "bob")
    await cli.ok("goals", rid, *GOALS)
    assert life.ledger.last_seq(rid) >= 2
    await retention_passes(life.env.client, rid)
    return rid


@pytest.fixture
def cli(dev_lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    point_cli_at(monkeypatch, dev_lifecycle)
    return Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path)


# --------------------------------------------------------------------------- bounded waits


@dataclass
class Stranded:
    cli: Cli
    relationship_id: str


@pytest.fixture
async def stranded(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Stranded]:
    """A relationship started while its worker ran; then the worker stopped, for good."""
    ledger = Ledger.from_url(settings.resolved_ledger_url)
    point_cli_at(monkeypatch, Lifecycle(dev_env, settings, ledger))
    cli = Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path)
    async with build_worker(dev_env.client, settings, lifecycle_activities(settings, ledger)):
        rid = await cli.start("alice", "bob")
        assert (await cli.json("status", rid))["phase"] == "onboarding"
    monkeypatch.setenv("MENTORFLOW_COMMAND_TIMEOUT", "2")
    yield Stranded(cli, rid)
    await dev_env.client.get_workflow_handle(rid).terminate("test over")
    ledger.dispose()


async def test_a_command_nobody_answers_stops_at_the_bound_and_says_so(
    stranded: Stranded,
) -> None:
    cli, rid = stranded.cli, stranded.relationship_id

    sent = await cli("goals", rid, "--actor-id", "bob", *GOALS)
    assert sent.exit_code == ExitCode.NO_ANSWER, sent.output
    line = sent.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "error: no worker answered within 2 s: the command was not applied; "
        "is the worker running? `mentorflow up` or `mentorflow worker`"
    ), line
    assert f"mentorflow status {rid}" in line

    asked = await cli("status", rid)
    assert asked.exit_code == ExitCode.NO_ANSWER, asked.output
    assert asked.stderr.strip().splitlines()[-1] == (
        "error: no worker answered within 2 s; is the worker running? "
        "`mentorflow up` or `mentorflow worker`"
    )

    # Without --actor-id the command first asks who the mentee is: the same bound holds.
    unnamed = await cli("goals", rid, *GOALS)
    assert unnamed.exit_code == ExitCode.NO_ANSWER, unnamed.output


def test_a_bad_command_timeout_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTORFLOW_COMMAND_TIMEOUT", "soon")
    result = CliRunner().invoke(app, ["status", "anything"])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.stderr.startswith("error: MENTORFLOW_COMMAND_TIMEOUT='soon' is not a number")


# --------------------------------------------------------------------------- ids the ledger holds


async def test_starting_a_pair_again_after_retention_is_refused(
    cli: Cli, dev_lifecycle: Lifecycle
) -> None:
    rid = await a_relationship_from_long_ago(cli, dev_lifecycle)
    events = dev_lifecycle.ledger.last_seq(rid)

    again = await cli("start", *pair_flags(cli.program, "alice", "bob"))
    assert again.exit_code == ExitCode.BAD_INPUT, again.output
    assert again.stderr.strip().splitlines()[-1] == (
        f"error: relationship {rid} already has a history in the ledger ({events} events; "
        f"it ran before); start it under a new id, e.g. --id {rid}-2"
    )
    assert not await known_to_temporal(dev_lifecycle.env.client, rid), "nothing was started"
    assert dev_lifecycle.ledger.last_seq(rid) == events

    renamed = await cli.start("alice", "bob", "--id", f"{rid}-2")
    assert renamed == f"{rid}-2"


async def test_import_skips_a_pair_the_ledger_already_holds(
    cli: Cli, dev_lifecycle: Lifecycle
) -> None:
    rid = await a_relationship_from_long_ago(cli, dev_lifecycle)
    roster = cli.tmp / "roster.csv"
    roster.write_text(
        "program,mentor_id,mentor_name,mentor_email,mentee_id,mentee_name,mentee_email\n"
        f"{cli.program},alice,Alice,alice@example.org,bob,Bob,bob@example.org\n"
        f"{cli.program},cy,Cy,cy@example.org,di,Di,di@example.org\n"
    )

    first = await cli.json("import", str(roster))
    assert first["ok"] is True
    assert first["started"] == [f"{cli.program}.di.cy"]
    [skipped] = first["skipped"]
    assert skipped["relationship_id"] == rid and skipped["line"] == 2
    assert "it ran before" in skipped["reason"] and "relationship_id" in skipped["reason"]
    assert not await known_to_temporal(dev_lifecycle.env.client, rid)

    second = await cli.ok("import", str(roster))
    assert "started 0, 1 already exist, 1 already in the ledger (skipped)" in second.stdout


# --------------------------------------------------------------------------- a blocked ledger


async def test_status_and_list_show_a_relationship_whose_ledger_is_blocked(
    cli: Cli, dev_lifecycle: Lifecycle
) -> None:
    """Needs the workflow that goes "ledger blocked" on an integrity conflict."""
    rid = await a_relationship_from_long_ago(cli, dev_lifecycle)
    # Started again by a client that does not check the ledger: its event 1 clashes.
    started = await start_relationship(
        dev_lifecycle.env.client,
        request(program=cli.program),
        dev_lifecycle.settings.task_queue,
        datetime.now(UTC),
    )
    assert started.relationship_id == rid and started.created
    dev_lifecycle.started.append(rid)

    async def blocked() -> bool:
        return bool((await cli.json("status", rid))["ledger_blocked"])

    await eventually(blocked, "the status says the ledger is blocked")
    shown = (await cli.ok("status", rid)).stdout.splitlines()
    title = next(i for i, text in enumerate(shown) if text.startswith(f"Relationship {rid}"))
    assert shown[title + 1].startswith("ledger blocked: "), shown
    assert any("event(s) waiting to be recorded" in text for text in shown), shown

    async def listed_as_blocked() -> bool:
        rows = await cli.json("list", "--program", cli.program, "--blocked")
        return [row["relationship_id"] for row in rows] == [rid]

    await eventually(listed_as_blocked, "list --blocked finds it")
    [row] = await cli.json("list", "--program", cli.program, "--blocked")
    assert row["ledger_blocked"] is True and row["health"].startswith("LEDGER BLOCKED")
    table = (await cli.ok("list", "--program", cli.program)).stdout
    assert "LEDGER" in table and "BLOCKED" in table  # an 80-column table folds the cell

    refused = await cli("goals", rid, "--actor-id", "bob", *GOALS)
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith("error: rejected: ledger blocked:"), line
    assert f"mentorflow repair {rid}" in line


async def test_list_treats_a_relationship_without_the_attribute_as_not_blocked(
    cli: Cli,
) -> None:
    rid = await cli.start("alice", "bob")

    async def listed() -> bool:
        rows = await cli.json("list", "--program", cli.program)
        return [row["relationship_id"] for row in rows] == [rid]

    await eventually(listed, "the new relationship is listed")
    [row] = await cli.json("list", "--program", cli.program)
    assert row["ledger_blocked"] is False and row["health"] == "ok"
    assert await cli.json("list", "--program", cli.program, "--blocked") == []


# --------------------------------------------------------------------------- repair


async def test_repair_of_a_relationship_that_is_not_blocked_says_there_is_nothing_to_do(
    cli: Cli, dev_lifecycle: Lifecycle
) -> None:
    """Needs the workflow's repair_ledger update (refusing, or accepting as a no-op)."""
    rid = await cli.start("alice", "bob")

    async def recorded() -> bool:  # the ledger is written beside the run: let it catch up
        view = await query_status(dev_lifecycle.env.client, rid, timeout=10)
        return dev_lifecycle.ledger.last_seq(rid) == view.state.seq

    await eventually(recorded, "the start's events are in the ledger")
    repaired = await cli.ok("repair", rid, "--note", "checked the ledger, all fine")
    line = repaired.stdout.strip()
    no_op = f"repair of {rid} accepted: nothing was waiting to be recorded"
    assert line == no_op or line.startswith(f"repair of {rid}: nothing to repair"), line

    shown = await cli.json("repair", rid)
    assert shown["relationship_id"] == rid and shown["was_blocked"] is None
    assert shown["waiting"] == 0


async def test_repair_after_the_rows_are_restored_records_what_waited(
    cli: Cli, dev_lifecycle: Lifecycle
) -> None:
    """Needs the workflow that goes "ledger blocked" on an integrity conflict."""
    rid = await cli.start("alice", "bob")
    await cli.ok("goals", rid, *GOALS)
    ledger = dev_lifecycle.ledger
    lost = ledger.last_seq(rid)
    with ledger.engine.begin() as conn:  # someone deletes the newest row by hand
        where = (events_table.c.relationship_id == rid) & (events_table.c.seq == lost)
        [row] = conn.execute(select(events_table).where(where)).mappings()
        conn.execute(delete(events_table).where(where))

    # The next events no longer follow on from the chain: the ledger refuses them.
    sent = await cli("commitment", rid, *COMMITMENT)
    assert sent.exit_code == ExitCode.PENDING, sent.output
    note = sent.stderr.strip().splitlines()[-1]
    assert note.startswith("note: applied, but the ledger refuses this relationship's"), note
    assert f"mentorflow repair {rid}" in sent.stderr

    async def blocked() -> bool:
        return bool((await cli.json("status", rid))["ledger_blocked"])

    await eventually(blocked, "the status says the ledger is blocked")
    waiting = (await cli.json("status", rid))["ledger_pending"]
    assert waiting > 0

    early = await cli("repair", rid)  # before the cause is fixed
    assert early.exit_code == ExitCode.REFUSED, early.output
    assert early.stderr.strip().splitlines()[-1].startswith(f"error: repair of {rid} did not take")

    with ledger.engine.begin() as conn:  # restored from last night's dump
        conn.execute(insert(events_table).values(**row))
    repaired = await cli.ok("repair", rid, "--note", "restored the row from the dump")
    assert repaired.stdout.strip() == (
        f"repair of {rid} accepted: {waiting} waiting event(s) recorded"
    ), repaired.output
    view = await cli.json("status", rid)
    assert view["ledger_blocked"] is None and view["ledger_pending"] == 0
    assert ledger.last_seq(rid) == view["state"]["seq"]


def test_repair_refuses_a_note_that_is_too_long_before_connecting() -> None:
    result = CliRunner().invoke(app, ["repair", "anything", "--note", "x" * 501])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.stderr.startswith("error: note: ")
    assert CliRunner().invoke(app, ["repair", "--help"]).exit_code == 0
