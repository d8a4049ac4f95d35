"""Real processes for the fault tests to break: a Temporal dev server on a SQLite file, the
worker as deployed (`python -m worker`), and an SMTP relay that can hold a delivery on the wire
or go down. Every wait has a deadline and every process dies in a `finally`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetSystemInfoRequest,
)
from temporalio.client import Client

from ledger.store import Ledger, deliveries_table
from tests.conftest import installed_binary
from worker.temporal import data_converter
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
WAIT = 90.0  # the longest any single wait may take before the test fails instead of hanging


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def eventually(
    probe: Callable[[], Any], what: str, *, timeout: float = WAIT, every: float = 0.1
) -> Any:
    """Poll an (async or plain) probe until it returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


def _kill(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


# ------------------------------------------------------------------------- the dev server


_SA_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "TEXT": "Text"}


@dataclass
class DevServer:
    """`temporal server start-dev` on a SQLite file, killable and restartable on its ports."""

    db: Path
    port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        attributes = [
            f"--search-attribute={key.name}="
            f"{_SA_TYPES[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"
            for key in sa.ALL
        ]
        return [
            installed_binary("temporal"),
            "server",
            "start-dev",
            f"--db-filename={self.db}",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--headless",
            "--log-level=error",
            *attributes,
        ]

    async def start(self) -> None:
        log = (self.db.parent / "server.log").open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        await eventually(self._answers, f"the dev server on {self.address}", timeout=60)

    async def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the dev server exited with {self.process.returncode}")
        try:
            client = await Client.connect(self.address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
        except Exception:
            return False
        return True

    async def client(self) -> Client:
        return await Client.connect(self.address, data_converter=data_converter())

    def kill(self) -> None:
        """SIGKILL: whatever the server had not written to its SQLite file is gone."""
        assert self.process is not None, "the server is not running"
        self.stop()
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None:
            _kill(self.process)
            self.process = None

    @classmethod
    @asynccontextmanager
    async def running(cls, folder: Path) -> AsyncIterator[DevServer]:
        server = cls(db=folder / "temporal.db")
        try:
            await server.start()
            yield server
        finally:
            server.stop()


# ------------------------------------------------------------------------- the worker


@dataclass
class WorkerProcess:
    """One `python -m worker`, its JSON log lines collected as they come."""

    process: subprocess.Popen[str]
    lines: list[dict[str, Any]] = field(default_factory=list)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.lines.append({"event": "(not json)", "text": raw.rstrip()})

    def logged(self, event: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}: {self.lines}")
        return any(line.get("event") == event for line in self.lines)


@dataclass
class Workers:
    """Successive worker processes on one task queue: start one, SIGKILL it, start the next."""

    env: dict[str, str]
    cwd: Path
    current: WorkerProcess | None = None
    kills: int = 0
    started: list[WorkerProcess] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    async def start(self) -> WorkerProcess:
        assert self.current is None, "one worker at a time: kill the current one first"
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker = WorkerProcess(process)
        self.current = worker
        self.started.append(worker)
        reader = threading.Thread(target=worker._read, daemon=True)
        reader.start()
        self._readers.append(reader)
        await eventually(lambda: worker.logged("worker running"), "the worker to start polling")
        return worker

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye, whatever it was doing is cut off."""
        assert self.current is not None, "no worker is running"
        _kill(self.current.process)
        self.current = None
        self.kills += 1

    async def restart(self) -> None:
        self.kill()
        await self.start()

    def close(self) -> None:
        if self.current is not None:
            _kill(self.current.process)
            self.current = None
        for reader in self._readers:
            reader.join(timeout=10)

    def errors(self, last: int = 10) -> list[str]:
        """The latest error lines any worker of this pool logged (a failing workflow task,
        a deadlock), so a test that fails or times out shows why the worker was stuck."""
        found = [_error_line(line) for w in self.started for line in w.lines]
        distinct = list(dict.fromkeys(line for line in found if line))
        return distinct[-last:]


def _error_line(line: dict[str, Any]) -> str | None:
    """'what failed: the exception's own last line', for a log line at error level."""
    if line.get("level") != "error":
        return None
    trace = str(line.get("exception", "")).strip().splitlines()
    return f"{line.get('event')}: {trace[-1]}" if trace else str(line.get("event"))


def worker_env(server: DevServer, folder: Path, task_queue: str, **extra: str) -> dict[str, str]:
    """This machine's environment minus its own MENTORFLOW_/TEMPORAL_ settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORFLOW_", "TEMPORAL_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        TEMPORAL_ADDRESS=server.address,
        MENTORFLOW_TASK_QUEUE=task_queue,
        MENTORFLOW_DATA_DIR=str(folder / "data"),
        MENTORFLOW_LEDGER_URL=f"sqlite:///{folder / 'ledger.db'}",
        MENTORFLOW_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


@contextmanager
def workers(env: dict[str, str], cwd: Path) -> Iterator[Workers]:
    """On a failure (a timeout too) the workers' error lines go to the captured output."""
    pool = Workers(env, cwd)
    try:
        yield pool
    except BaseException:
        for line in pool.errors():
            print(f"worker error: {line}")
        raise
    finally:
        pool.close()


# ------------------------------------------------------------------------- the mail relay


@dataclass
class Relay:
    """An SMTP relay on loopback that counts what it accepts, per (notification key, address).

    `hold(address)` makes it sit on the RCPT for that address (before any message is
    accepted) until `release()`, so a test can kill the worker while a delivery is on the
    wire. `down()` and `up()` take it off the network and back, on the same port.
    """

    port: int = field(default_factory=free_port)
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    kinds: dict[str, str] = field(default_factory=dict)
    held: threading.Event = field(default_factory=threading.Event)
    _holding: set[str] = field(default_factory=set)
    _release: threading.Event = field(default_factory=threading.Event)
    _controller: Controller | None = None

    @property
    def settings(self) -> dict[str, str]:
        return {
            "MENTORFLOW_SMTP_HOST": "127.0.0.1",
            "MENTORFLOW_SMTP_PORT": str(self.port),
            "MENTORFLOW_SMTP_SECURITY": "none",
            "MENTORFLOW_SMTP_SENDER": "Mentoring <mentoring@example.org>",
        }

    def hold(self, address: str) -> None:
        self._holding.add(address.lower())
        self.held.clear()
        self._release.clear()

    def release(self) -> None:
        self._holding.clear()
        self._release.set()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self._holding:
            self.held.set()
            await asyncio.to_thread(self._release.wait, WAIT)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        key = str(message["X-Mentorflow-Key"])
        for address in envelope.rcpt_tos:
            self.accepted[(key, address.lower())] += 1
        self.kinds[key] = str(message["X-Mentorflow-Kind"])
        return "250 OK"

    def up(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._release.set()
            self._controller.stop()
            self._controller = None

    @contextmanager
    def serving(self) -> Iterator[Relay]:
        self.up()
        try:
            yield self
        finally:
            self.down()


# ------------------------------------------------------------------------- reading state


async def describe(client: Client, workflow_id: str) -> DescribeWorkflowExecutionResponse:
    return await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )


async def quiet(client: Client, workflow_id: str) -> bool:
    """No workflow task and no activity in flight: nothing a kill could cut off."""
    response = await describe(client, workflow_id)
    return not response.HasField("pending_workflow_task") and not response.pending_activities


@contextmanager
def ledger_locked(path: Path) -> Iterator[None]:
    """Hold the SQLite ledger's write lock, as a stalled disk or a long transaction would."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=WAIT)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def delivered(ledger: Ledger) -> set[tuple[str, str]]:
    """(notification key, recipient ref) the delivery log holds as delivered."""
    query = select(deliveries_table.c.key, deliveries_table.c.recipient).where(
        deliveries_table.c.status == "delivered"
    )
    with ledger.engine.connect() as conn:
        return {(row.key, row.recipient) for row in conn.execute(query)}
