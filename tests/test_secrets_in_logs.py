"""Secrets stay out of the logs: a lifecycle with every secret in use, every log line scanned.

SMTP logs in with a password, webhooks are signed with the shared secret, payloads are sealed
with the codec keys and the codec server checks its token; the worker, the workflow, the SDK
and the codec server all log at debug level into one buffer, and none of the secrets may show.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ledger.store import Ledger
from mentorship.participants import Channel
from tests.test_channels import Mailbox, WebhookReceiver, free_port
from tests.test_codec import DANA, EZRA, drive_a_short_lifecycle
from worker.app import build_worker, lifecycle_activities
from worker.codec import codec_from, generate_key
from worker.codec_server import bound_socket, build_app, server
from worker.settings import Settings
from worker.temporal import data_converter

SMTP_PASSWORD = "smtp-Pw-7f3e9a1c55d0"
WEBHOOK_SECRET = "whsec-b81d4f0e2a6c9377"
CODEC_TOKEN = "codec-tok-5e0a9c2b7d1f4468"
ACTIVE_KEY = generate_key("2026-05")
OLD_KEY = generate_key("2025-11")
SECRETS = {
    "smtp password": SMTP_PASSWORD,
    "webhook secret": WEBHOOK_SECRET,
    "codec token": CODEC_TOKEN,
    "active codec key": ACTIVE_KEY.split(":", 1)[1],
    "old codec key": OLD_KEY.split(":", 1)[1],
}
PEER_LOGGERS = ("mail.log",)  # the test's own SMTP relay, not mentorflow


class AuthMailbox(Mailbox):
    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


class _NotFromPeers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(PEER_LOGGERS)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """structlog (worker, workflow, activities, codec server) and stdlib logging (the SDK,
    uvicorn) at debug level, rendered as they would be in production, into one buffer."""
    buffer = io.StringIO()
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=repr),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.addFilter(_NotFromPeers())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.configure(**saved)


@pytest.mark.devserver
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_no_secret_reaches_the_logs_of_a_lifecycle(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    mailbox = AuthMailbox()
    relay = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=mailbox.authenticator,
        auth_required=True,
        auth_require_tls=False,  # loopback only; TLS is covered in test_channels
    )
    relay.start()
    receiver = WebhookReceiver(secret=WEBHOOK_SECRET)
    receiver.thread.start()
    secret_settings = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_username": "mentorflow",
            "smtp_password": SecretStr(SMTP_PASSWORD),
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
            "webhook_url": receiver.url(),
            "codec_keys": SecretStr(f"{ACTIVE_KEY},{OLD_KEY}"),
            "codec_token": SecretStr(CODEC_TOKEN),
        }
    )
    structlog.get_logger("mentorflow.test").info("settings", settings=secret_settings)
    try:
        await _run_lifecycle(dev_env, secret_settings, mailbox, receiver)
        await _call_the_codec_server(secret_settings)
    finally:
        relay.stop()
        receiver.server.shutdown()
        receiver.server.server_close()

    logs = captured_logs.getvalue()
    out, err = capfd.readouterr()
    assert mailbox.logins and mailbox.messages, "SMTP was really used, with the password"
    assert receiver.accepted(), "webhooks were really signed with the secret"
    for expected in ("command applied", "notification.delivered", "codec call refused"):
        assert expected in logs, f"the logs were captured ({expected!r} missing)"
    leaked = {name for name, value in SECRETS.items() if value in logs + out + err}
    assert leaked == set()


async def _run_lifecycle(
    dev_env: WorkflowEnvironment, sealed: Settings, mailbox: Mailbox, receiver: WebhookReceiver
) -> None:
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(sealed),
    )
    ledger = Ledger.from_url(sealed.resolved_ledger_url)
    mentor = DANA.model_copy(update={"channel": Channel.WEBHOOK, "webhook_url": receiver.url()})
    mentee = EZRA.model_copy(update={"channel": Channel.EMAIL})
    try:
        async with build_worker(client, sealed, lifecycle_activities(sealed, ledger)):
            await drive_a_short_lifecycle(
                client,
                sealed.task_queue,
                await dev_env.get_current_time(),
                mentor=mentor,
                mentee=mentee,
            )
            for _ in range(500):  # notifications go out after the updates return
                if len(mailbox.messages) >= 3 and len(receiver.accepted()) >= 3:
                    break
                await asyncio.sleep(0.02)
    finally:
        ledger.dispose()


async def _call_the_codec_server(sealed: Settings) -> None:
    codec = codec_from(sealed)
    assert codec is not None and sealed.codec_token is not None
    app = build_app(codec, sealed.codec_token, cors_origins=["http://localhost:8233"])
    sock = bound_socket("127.0.0.1", 0)
    running = server(app, "127.0.0.1", 0)
    task = asyncio.create_task(running.serve(sockets=[sock]))
    while not running.started:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            ok = await http.post(
                "/decode",
                json={"payloads": []},
                headers={"Authorization": f"Bearer {CODEC_TOKEN}"},
            )
            refused = await http.post(
                "/decode", json={"payloads": []}, headers={"Authorization": "Bearer guess"}
            )
        assert (ok.status_code, refused.status_code) == (200, 401)
    finally:
        running.should_exit = True
        await task
