"""The worker as a deployment runs it: `python -m worker`, configured by environment variables,
against a real Temporal server, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.testing import WorkflowEnvironment

from client.relationships import start_relationship
from ledger.store import Ledger
from mentorship.participants import Channel, Participant
from tests.factories import ALICE, BOB, request

pytestmark = pytest.mark.devserver

ROOT = Path(__file__).resolve().parent.parent
WAIT = 120.0  # generous bound on any one wait, so a broken worker fails the test, not hangs it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def by_email(person: Participant) -> Participant:
    return person.model_copy(update={"channel": Channel.EMAIL})


# ------------------------------------------------------------------------------ the process


@dataclass
class WorkerProcess:
    """`python -m worker` with its JSON log lines collected as they come."""

    process: subprocess.Popen[str]
    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    @contextmanager
    def running(cls, env: dict[str, str], cwd: Path) -> Iterator[WorkerProcess]:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker = cls(process)
        reader = threading.Thread(target=worker._read, daemon=True)
        reader.start()
        try:
            yield worker
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            reader.join()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"event": "(not json)", "text": raw.rstrip()}
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def index(self, event: str, **fields: Any) -> int | None:
        for number, line in enumerate(self.lines):
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                return number
        return None

    def _wait_for(self, event: str, fields: dict[str, Any]) -> int:
        with self.changed:
            found = self.changed.wait_for(
                lambda: self.index(event, **fields) is not None or self.process.poll() is not None,
                timeout=WAIT,
            )
            number = self.index(event, **fields)
        if not found or number is None:
            raise AssertionError(f"worker never logged {event!r} {fields}; output: {self.lines}")
        return number

    async def wait_for(self, event: str, **fields: Any) -> int:
        return await asyncio.to_thread(self._wait_for, event, fields)

    async def exit_code(self) -> int:
        return await asyncio.to_thread(self.process.wait, WAIT)


def worker_env(dev_env: WorkflowEnvironment, tmp_path: Path, **settings: str) -> dict[str, str]:
    """This machine's environment without any MENTORFLOW_/TEMPORAL_/OTEL_ of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MENTORFLOW_", "TEMPORAL_", "OTEL_"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=dev_env.client.namespace,
        MENTORFLOW_DATA_DIR=str(tmp_path / "data"),
        MENTORFLOW_LEDGER_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
        MENTORFLOW_LOG_FORMAT="json",
    )
    env.update(settings)
    return env


# ------------------------------------------------------------------------------ the peers


@dataclass
class HeldRelay:
    """An SMTP relay that takes each message's DATA but answers only once released, so the
    test can stop the worker while a delivery is on the wire."""

    release: threading.Event = field(default_factory=threading.Event)
    receiving: threading.Event = field(default_factory=threading.Event)
    in_flight: list[EmailMessage] = field(default_factory=list)
    accepted: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        self.in_flight.append(message)
        self.receiving.set()
        if not await asyncio.to_thread(self.release.wait, WAIT):
            return "451 4.3.0 the test never released this message"
        self.accepted.append(message)
        return "250 OK"


@contextmanager
def smtp_relay(relay: HeldRelay) -> Iterator[int]:
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        relay.release.set()
        controller.stop()


@dataclass
class OtlpCollector:
    """Keeps what an OTLP/HTTP exporter posts."""

    posts: list[tuple[str, bytes]] = field(default_factory=list)

    @contextmanager
    def serving(self) -> Iterator[str]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.posts.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()
            httpd.server_close()


# ------------------------------------------------------------------------------ the tests


async def test_sigterm_lets_an_in_flight_delivery_finish_then_exits_cleanly(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    relay = HeldRelay()
    queue = "tq-drain"
    recipients = {ALICE.email: f"mentor:{ALICE.id}", BOB.email: f"mentee:{BOB.id}"}
    with smtp_relay(relay) as smtp_port:
        env = worker_env(
            dev_env,
            tmp_path,
            MENTORFLOW_TASK_QUEUE=queue,
            MENTORFLOW_SMTP_HOST="127.0.0.1",
            MENTORFLOW_SMTP_PORT=str(smtp_port),
        )
        with WorkerProcess.running(env, tmp_path) as worker:
            await worker.wait_for("worker running")
            await start_relationship(
                dev_env.client,
                request(mentor=by_email(ALICE), mentee=by_email(BOB), program="drain"),
                queue,
                await dev_env.get_current_time(),
            )
            assert await asyncio.to_thread(relay.receiving.wait, WAIT)
            on_the_wire = list(relay.in_flight)

            worker.process.send_signal(signal.SIGTERM)
            drained_from = await worker.wait_for("worker draining")
            relay.release.set()
            code = await worker.exit_code()

    assert code == 0
    with Ledger.from_url(env["MENTORFLOW_LEDGER_URL"]) as ledger:
        for message in on_the_wire:
            key, to = message["X-Mentorflow-Key"], message["To"].addresses[0].addr_spec
            assert message in relay.accepted
            assert ledger.delivery_status(key, recipients[to]) == "delivered"
            delivered = worker.index("notification.delivered", notification_key=key)
            assert delivered is not None and delivered > drained_from


async def test_a_worker_reports_json_logs_metrics_and_traces(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue, metrics_port = "tq-observed", free_port()
    collector = OtlpCollector()
    with collector.serving() as otlp_endpoint:
        env = worker_env(
            dev_env,
            tmp_path,
            MENTORFLOW_TASK_QUEUE=queue,
            MENTORFLOW_METRICS_PORT=str(metrics_port),
            MENTORFLOW_TRACING="true",
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
        )
        with WorkerProcess.running(env, tmp_path) as worker:
            await worker.wait_for("worker running")
            started = await start_relationship(
                dev_env.client,
                request(program="observed"),
                queue,
                await dev_env.get_current_time(),
            )
            await worker.wait_for("notification.delivered", relationship_id=started.relationship_id)
            activity_pollers = await scrape_until(
                f"http://127.0.0.1:{metrics_port}/metrics",
                "temporal_num_pollers{",
                'poller_type="activity_task"',
                f'task_queue="{queue}"',
            )
            worker.process.send_signal(signal.SIGTERM)
            code = await worker.exit_code()

    assert code == 0
    assert activity_pollers
    traces = [body for path, body in collector.posts if path == "/v1/traces"]
    relationship = started.relationship_id.encode()
    assert any(b"RunActivity:" in body and relationship in body for body in traces)


async def scrape_until(url: str, *parts: str) -> list[str]:
    """Metric lines containing every part, once the SDK has recorded them."""
    async with httpx.AsyncClient() as http:
        for _ in range(int(WAIT * 10)):
            text = (await http.get(url)).text
            lines = [line for line in text.splitlines() if all(p in line for p in parts)]
            if lines:
                return lines
            await asyncio.sleep(0.1)
    raise AssertionError(f"no metric at {url} has {parts}")


def test_a_bad_setting_stops_the_worker_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORFLOW_", "TEMPORAL_"))}
    env.update(PYTHONPATH=str(ROOT), MENTORFLOW_SMTP_PORT="70000")

    done = subprocess.run(
        [sys.executable, "-m", "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("mentorflow worker: bad setting: MENTORFLOW_SMTP_PORT='70000'")
