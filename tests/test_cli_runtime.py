"""The engine as an operator runs it: `mentorflow up`, `mentorflow worker`, `mentorflow demo`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli import connection
from tests.lifecycle import Lifecycle
from tests.test_cli_commands import (  # noqa: F401 _logs_off_stdout is an autouse fixture
    OPERATOR_ENV,
    Cli,
    _logs_off_stdout,
    eventually,
    point_cli_at,
)

MENTORFLOW = str(Path(sys.executable).parent / "mentorflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Process:
    """A `mentorflow` command running as its own process, its output in a file."""

    popen: subprocess.Popen[bytes]
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    async def wait_for(self, marker: str) -> None:
        async def printed() -> bool:
            assert self.popen.poll() is None, f"exited early: {self.text()}"
            return marker in self.text()

        await eventually(printed, f"'{marker}' printed")

    async def interrupt(self) -> int:
        """Ctrl-C, as at a terminal; the exit code once it has stopped everything."""
        self.popen.send_signal(signal.SIGINT)
        return await asyncio.to_thread(self.popen.wait, 60)


def spawn(args: list[str], env: dict[str, str], output: Path) -> Process:
    with output.open("ab") as sink:
        popen = subprocess.Popen(
            [MENTORFLOW, *args],
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Process(popen, output)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Whatever a test leaves running is stopped, so a failure cannot leak a server."""
    started: list[Process] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait()


async def _sent(outbox: Path, kind: str, role: str) -> dict[str, str]:
    """The first message of `kind` to `role` in the outbox, waited for (bounded: 60 s)."""
    for _ in range(600):
        lines = outbox.read_text().splitlines() if outbox.exists() else []
        for message in map(json.loads, lines):
            if message.get("kind") == kind and message.get("recipient_role") == role:
                return cast(dict[str, str], message)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} message to the {role} in {outbox} after 60 s")


async def _a_welcome_link_opens_the_portal(engine: Engine, up: Process) -> None:
    portal = engine.env["MENTORFLOW_PORTAL_URL"]
    assert f"portal:  {portal}" in up.text()
    # The mentor's and the mentee's welcomes go out one after the other: wait for the mentee's.
    welcome = await _sent(engine.data_dir / "outbox.jsonl", "welcome", "mentee")
    url = next(word for word in welcome["text"].split() if word.startswith(f"{portal}/p/"))
    async with httpx.AsyncClient(follow_redirects=True) as web:
        page = await web.get(url)
    assert page.status_code == 200 and "Your goals" in page.text


async def _the_operator_signs_in_from_the_outbox(engine: Engine, program: str) -> None:
    """The README's quick start: the sign-in link for the address lands in the outbox."""
    portal = engine.env["MENTORFLOW_PORTAL_URL"]
    outbox = engine.data_dir / "outbox.jsonl"
    async with httpx.AsyncClient(base_url=portal, follow_redirects=True, timeout=30) as web:
        form = (await web.get("/ops/sign-in")).text
        token = form.split('name="csrf" value="')[1].split('"')[0]
        await web.post("/ops/sign-in", data={"email": "olga@example.org", "csrf": token})
        sent = [json.loads(line) for line in outbox.read_text().splitlines()]
        (sign_in,) = [m for m in sent if m["kind"] == "operator_sign_in"]
        url = next(w for w in sign_in["text"].split() if w.startswith(f"{portal}/ops/s/"))
        dashboard = await web.get(url)
    assert dashboard.status_code == 200 and "Signed in as olga" in dashboard.text
    assert program in dashboard.text and "Alice" in dashboard.text


@dataclass
class Engine:
    env: dict[str, str]
    ui_url: str
    data_dir: Path


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    port, ui_port, codec_port, portal_port = free_port(), free_port(), free_port(), free_port()
    data = tmp_path / "data"
    env = {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "MENTORFLOW_UI_PORT": str(ui_port),
        "MENTORFLOW_CODEC_PORT": str(codec_port),
        "MENTORFLOW_PORTAL_PORT": str(portal_port),
        "MENTORFLOW_PORTAL_URL": f"http://127.0.0.1:{portal_port}",
        "MENTORFLOW_DATA_DIR": str(data),
        "MENTORFLOW_TASK_QUEUE": f"tq-{uuid.uuid4().hex[:8]}",
        **OPERATOR_ENV,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MENTORFLOW_LEDGER_URL", raising=False)
    connection.settings.cache_clear()
    return Engine(env, f"http://127.0.0.1:{ui_port}", data)


async def test_up_serves_and_relationships_survive_a_restart(
    engine: Engine, processes: list[Process], tmp_path: Path
) -> None:
    cli = Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path)
    up = spawn(["up"], engine.env, tmp_path / "up-1.log")
    processes.append(up)
    await up.wait_for("mentorflow is up")
    assert engine.ui_url in up.text()
    async with httpx.AsyncClient() as web:
        assert (await web.get(engine.ui_url)).status_code == 200

    rid = await cli.start("alice", "bob")
    await _a_welcome_link_opens_the_portal(engine, up)
    await _the_operator_signs_in_from_the_outbox(engine, cli.program)
    await cli.ok(
        "goals",
        rid,
        "--objective",
        "Lead a design review end to end",
        "--proposed-cadence",
        "biweekly",
        "--proposed-format",
        "virtual",
    )
    assert await up.interrupt() == 0
    assert "mentorflow stopped" in up.text()
    assert "cannot reach Temporal" in await cli.refused("status", rid)

    again = spawn(["up"], engine.env, tmp_path / "up-2.log")
    processes.append(again)
    await again.wait_for("mentorflow is up")
    view = await cli.json("status", rid)
    assert view["phase"] == "onboarding"
    assert "goals" not in view["waiting_for"]
    assert view["state"]["goals"]["objectives"] == {"o1": "Lead a design review end to end"}
    committed = await cli.json(
        "commitment",
        rid,
        "--capacity",
        "4",
        "--availability",
        "Tuesdays",
        "--expertise",
        "design",
        "--communication",
        "email",
    )
    assert committed["seq"] == 3  # the worker picked the relationship up where it stood
    assert await again.interrupt() == 0
    assert (engine.data_dir / "temporal.db").exists()
    assert (engine.data_dir / "ledger.db").exists()


async def test_up_encrypts_by_default_and_serves_the_codec_to_its_web_ui(
    engine: Engine, processes: list[Process], tmp_path: Path
) -> None:
    cli = Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path)
    up = spawn(["up"], engine.env, tmp_path / "up.log")
    processes.append(up)
    await up.wait_for("mentorflow is up")
    key_file = engine.data_dir / "codec.keys"
    assert f"created the payload encryption key in {key_file}" in up.text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()

    rid = await cli.start("alice", "bob")
    assert (await cli.json("status", rid))["phase"] == "onboarding"  # the CLI finds the key
    raw = await Client.connect(engine.env["TEMPORAL_ADDRESS"])  # no codec: what the server holds
    history = await raw.get_workflow_handle(rid).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [sealed] = started.input.payloads
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert b"alice" not in sealed.data

    async with httpx.AsyncClient() as web:
        settings = (await web.get(f"{engine.ui_url}/api/v1/settings")).json()
        endpoint = settings["Codec"]["Endpoint"]
        codec_url = f"http://127.0.0.1:{engine.env['MENTORFLOW_CODEC_PORT']}"
        assert endpoint.startswith(f"{codec_url}/")
        body = json_format.MessageToJson(Payloads(payloads=[sealed]))
        headers = {"Origin": engine.ui_url, "Content-Type": "application/json"}
        decoded = await web.post(f"{endpoint}/decode", content=body, headers=headers)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == engine.ui_url
        [plain] = json_format.Parse(decoded.text, Payloads()).payloads
        assert plain.metadata["encoding"] == b"json/plain" and b"alice" in plain.data
        refused = await web.post(f"{codec_url}/decode", content=body, headers=headers)
        assert refused.status_code == 401, "without the UI's token nothing is decoded"

    assert await up.interrupt() == 0
    again = spawn(["up"], engine.env, tmp_path / "up-2.log")
    processes.append(again)
    await again.wait_for("mentorflow is up")
    assert "created the payload encryption key" not in again.text()
    assert key_file.read_text() == key, "the key survives a restart"
    assert (await cli.json("status", rid))["phase"] == "onboarding"
    assert await again.interrupt() == 0


async def test_up_refuses_a_port_that_is_taken(engine: Engine, tmp_path: Path) -> None:
    host, _, port = engine.env["TEMPORAL_ADDRESS"].rpartition(":")
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        result = await asyncio.to_thread(
            subprocess.run,
            [MENTORFLOW, "up"],
            env={**os.environ, **engine.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.fixture
async def cluster_cli(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Cli, dict[str, str]]]:
    """The CLI and a worker's environment aimed at the shared dev server, on a fresh queue."""
    env = {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "MENTORFLOW_TASK_QUEUE": f"tq-{uuid.uuid4().hex[:8]}",
        "MENTORFLOW_DATA_DIR": str(tmp_path / "data"),
        **OPERATOR_ENV,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MENTORFLOW_LEDGER_URL", raising=False)
    connection.settings.cache_clear()
    yield Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path), env


async def test_worker_runs_relationships_against_an_existing_cluster(
    cluster_cli: tuple[Cli, dict[str, str]], processes: list[Process], tmp_path: Path
) -> None:
    cli, env = cluster_cli
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    processes.append(worker)
    await worker.wait_for("worker running")
    rid = await cli.start("alice", "bob")
    done = await cli.json(
        "goals",
        rid,
        "--objective",
        "Lead a design review end to end",
        "--proposed-cadence",
        "biweekly",
        "--proposed-format",
        "virtual",
    )
    assert done["events"] == ["GoalsSubmitted"]
    assert await worker.interrupt() == 0
    assert "worker stopped" in worker.text()


async def test_demo_runs_a_cohort_through_every_ending(
    dev_lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real timers compressed to a third of a second a day. Each pair's people act on what its
    status shows (a prompt, a meeting's time, a warning sign), so every pair ends the same way
    however fast the machine runs."""
    point_cli_at(monkeypatch, dev_lifecycle)
    cli = Cli("unused", tmp_path)
    before = datetime.now(UTC)
    shown = await cli.json("demo", "--day-seconds", "0.35", "--days", "28")
    outcomes = {label: pair["outcome"] for label, pair in shown["relationships"].items()}
    assert outcomes == {
        "traditional": "completed",
        "reverse": "completed",
        "situational": "completed",
        "goes at risk": "cancelled",
        "concludes early": "concluded_early",
    }
    [report] = shown["report"]
    assert report["program"] == shown["program"]
    assert report["program"].startswith(f"demo-{before:%Y%m%d}")
    assert report["ever_at_risk"] >= 1
    assert report["meetings_held"] > 0 and report["loops_closed"] > 0
    assert report["average_duration_days"] > 0
    assert report["by_outcome"]["cancelled"] == 1
    status = await cli.json("status", shown["relationships"]["traditional"]["id"])
    assert status["state"]["reviews"], "the traditional pair had its periodic review"
    silent = await cli.json("history", shown["relationships"]["goes at risk"]["id"])
    story = [event["type"] for event in silent["events"]]
    assert story.index("AtRiskRaised") < story.index("Concluded"), "at risk, then cancelled"
    assert not {"MeetingLogged", "AgendaSubmitted"} & set(story), "the silent pair never met"
