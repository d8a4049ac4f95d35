"""A production worker is configured by environment variables only: one test per group shows
they arrive, and a bad one stops the worker before it starts, naming the variable."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.testing import WorkflowEnvironment

from activities.contacts import ProgramContact
from ledger.store import Ledger
from worker.app import build_worker, channels_config, lifecycle_activities
from worker.codec import generate_key
from worker.main import SettingsError, check_settings, load_settings, run_worker
from worker.setting_checks import TRACING_MODULES, all_env_names, env_name
from worker.settings import Settings
from worker.temporal import connect

PREFIXES = ("MENTORFLOW_", "TEMPORAL_")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Only what the test sets: no inherited MENTORFLOW_/TEMPORAL_ variables, no .env file."""
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MENTORFLOW_DATA_DIR", str(tmp_path / "data"))
    yield monkeypatch


def refused(env_var: str) -> pytest.RaisesExc[SettingsError]:
    return pytest.raises(SettingsError, match=env_var)


# ----------------------------------------------------------------------------- Temporal


def test_temporal_connection_comes_from_temporals_own_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    env.setenv("TEMPORAL_NAMESPACE", "mentoring-prod")
    env.setenv("MENTORFLOW_TASK_QUEUE", "mentorflow-eu")

    settings = load_settings()

    assert settings.temporal_address == "temporal.internal:7233"
    assert settings.namespace == "mentoring-prod"
    assert settings.task_queue == "mentorflow-eu"


async def test_an_unreachable_temporal_is_one_line_naming_the_address(
    env: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")

    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}.*TEMPORAL_ADDRESS"):
        await run_worker(load_settings())


# ----------------------------------------------------------------------------- TLS


@dataclass
class Pki:
    """A private CA with a certificate for 127.0.0.1 and one client certificate, as PEM files."""

    folder: Path
    ca: x509.Certificate = field(init=False)
    ca_key: ec.EllipticCurvePrivateKey = field(init=False)

    def __post_init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._sign("mentorflow test CA", self.ca_key.public_key(), ca=True)
        self._write("ca.pem", self.ca, None)
        for name in ("server", "client"):
            key = ec.generate_private_key(ec.SECP256R1())
            self._write(f"{name}.pem", self._sign(f"mentorflow {name}", key.public_key()), key)

    def path(self, name: str) -> Path:
        return self.folder / name

    def _sign(self, cn: str, public: Any, ca: bool = False) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if ca else self.ca.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def _write(self, name: str, cert: x509.Certificate, key: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path(name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            self.path(name.replace(".pem", ".key")).write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )


@asynccontextmanager
async def tls_front(
    target: str, pki: Pki, *, require_client_cert: bool
) -> AsyncIterator[tuple[int, list[str]]]:
    """A TLS-terminating proxy in front of the plaintext dev server, as a load balancer in
    front of a cluster would be; yields its port and the client certificates it saw."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.path("ca.pem"))
    context.load_cert_chain(pki.path("server.pem"), pki.path("server.key"))
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    host, _, port = target.rpartition(":")
    clients: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        clients.extend(v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], clients


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


def test_mtls_files_come_from_the_environment(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("MENTORFLOW_TLS_CERT", str(pki.path("client.pem")))
    env.setenv("MENTORFLOW_TLS_KEY", str(pki.path("client.key")))
    env.setenv("MENTORFLOW_TLS_CA", str(pki.path("ca.pem")))

    settings = load_settings()
    check_settings(settings)

    assert (settings.tls_cert, settings.tls_key, settings.tls_ca) == (
        pki.path("client.pem"),
        pki.path("client.key"),
        pki.path("ca.pem"),
    )


async def test_mtls_settings_connect_through_a_front_that_demands_a_client_certificate(
    env: pytest.MonkeyPatch, pki: Pki, dev_env: WorkflowEnvironment
) -> None:
    target = dev_env.client.service_client.config.target_host
    async with tls_front(target, pki, require_client_cert=True) as (port, clients):
        env.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
        env.setenv("MENTORFLOW_TLS_CA", str(pki.path("ca.pem")))
        with pytest.raises(RuntimeError):  # no client certificate: the front refuses
            await connect(load_settings())

        env.setenv("MENTORFLOW_TLS_CERT", str(pki.path("client.pem")))
        env.setenv("MENTORFLOW_TLS_KEY", str(pki.path("client.key")))
        client = await connect(load_settings())

        assert await client.service_client.check_health()
        assert "mentorflow client" in clients


async def test_a_private_ca_alone_gives_server_tls(
    env: pytest.MonkeyPatch, pki: Pki, dev_env: WorkflowEnvironment
) -> None:
    target = dev_env.client.service_client.config.target_host
    async with tls_front(target, pki, require_client_cert=False) as (port, _):
        env.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
        env.setenv("MENTORFLOW_TLS_CA", str(pki.path("ca.pem")))

        client = await connect(load_settings())

        assert await client.service_client.check_health()


async def test_a_missing_ca_file_stops_the_worker_naming_its_variable(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("MENTORFLOW_TLS_CA", str(tmp_path / "nowhere" / "ca.pem"))

    with refused("MENTORFLOW_TLS_CA=.*nowhere/ca.pem.*is not a readable file"):
        await run_worker(load_settings())


def test_a_client_certificate_without_its_key_is_refused(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("MENTORFLOW_TLS_CERT", str(tmp_path / "cert.pem"))

    with refused("MENTORFLOW_TLS_CERT and MENTORFLOW_TLS_KEY go together"):
        load_settings()


# ----------------------------------------------------------------------------- limits


async def test_concurrency_limits_reach_the_worker(
    env: pytest.MonkeyPatch, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env.setenv("MENTORFLOW_MAX_CONCURRENT_ACTIVITIES", "7")
    env.setenv("MENTORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", "5")
    env.setenv("MENTORFLOW_MAX_CACHED_WORKFLOWS", "0")
    env.setenv("MENTORFLOW_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    settings = load_settings()

    with Ledger.from_url(settings.resolved_ledger_url) as ledger:
        worker = build_worker(dev_env.client, settings, lifecycle_activities(settings, ledger))

    config = worker.config()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 5
    assert config.get("max_cached_workflows") == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MENTORFLOW_MAX_CONCURRENT_ACTIVITIES", "0"),
        ("MENTORFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", "lots"),
        ("MENTORFLOW_MAX_CACHED_WORKFLOWS", "-1"),
    ],
)
def test_a_limit_out_of_range_is_refused_with_its_value(
    env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    env.setenv(variable, value)

    with refused(f"{variable}='{value}' is not valid: .*; fix {variable} in the environment"):
        load_settings()


def test_program_contacts_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("MENTORFLOW_PROGRAM_CONTACT", "Programs <programs@example.org>")
    env.setenv("MENTORFLOW_PROGRAM_CONTACTS", "eng-2026=Ana Ops <ana@example.org>; sales=b@x.org")

    contacts = load_settings().contacts

    assert contacts.default == ProgramContact(name="Programs", email="programs@example.org")
    assert contacts.programs["eng-2026"].header() == "Ana Ops <ana@example.org>"
    assert contacts.programs["sales"].email == "b@x.org"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MENTORFLOW_PROGRAM_CONTACT", "nobody", "'nobody' is not a contact"),
        (
            "MENTORFLOW_PROGRAM_CONTACTS",
            "Ana <ana@example.org>",
            "'Ana <ana@example.org>' names no",
        ),
    ],
)
def test_a_contact_that_is_not_an_address_is_refused(
    env: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    env.setenv(variable, value)

    with refused(f"{variable}: {problem}"):
        load_settings()


def test_a_link_key_too_short_to_sign_with_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("MENTORFLOW_LINK_KEYS", "portal-2026a:short")

    with pytest.raises(SettingsError, match="MENTORFLOW_LINK_KEYS: a link key is 'id:secret'"):
        check_settings(load_settings())


# ----------------------------------------------------------------------------- ledger


def test_the_ledger_url_comes_from_the_environment(env: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://mentorflow:pw@postgresql:5432/mentorflow_ledger"
    env.setenv("MENTORFLOW_LEDGER_URL", url)

    settings = load_settings()
    check_settings(settings)

    assert settings.resolved_ledger_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://ledger:hunter2@db/ledger", "names an unsupported database"),
        ("hunter2 is not a url", "is not a database URL"),
    ],
)
def test_an_unusable_ledger_url_is_refused_without_its_password(
    env: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    env.setenv("MENTORFLOW_LEDGER_URL", url)

    with refused(f"MENTORFLOW_LEDGER_URL.*{problem}") as refusal:
        check_settings(load_settings())

    assert "hunter2" not in str(refusal.value)


def test_a_data_dir_that_cannot_hold_the_outbox_is_refused(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env.setenv("MENTORFLOW_DATA_DIR", str(blocker / "data"))

    with refused("MENTORFLOW_DATA_DIR: cannot write to"):
        check_settings(load_settings())


# ----------------------------------------------------------------------------- channels


def test_smtp_and_webhook_channels_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("MENTORFLOW_SMTP_HOST", "smtp.example.org")
    env.setenv("MENTORFLOW_SMTP_PORT", "587")
    env.setenv("MENTORFLOW_SMTP_SECURITY", "starttls")
    env.setenv("MENTORFLOW_SMTP_USERNAME", "mentoring")
    env.setenv("MENTORFLOW_SMTP_PASSWORD", "smtp-secret")
    env.setenv("MENTORFLOW_SMTP_SENDER", "Mentoring <mentoring@example.org>")
    env.setenv("MENTORFLOW_WEBHOOK_URL", "https://hooks.example.org/mentoring")
    env.setenv("MENTORFLOW_WEBHOOK_SECRET", "hook-secret")

    settings = load_settings()
    check_settings(settings)
    channels = channels_config(settings)

    assert channels.smtp is not None and channels.webhook is not None
    smtp = channels.smtp
    assert (smtp.host, smtp.port, smtp.security, smtp.username) == (
        "smtp.example.org",
        587,
        "starttls",
        "mentoring",
    )
    assert smtp.password is not None and smtp.password.get_secret_value() == "smtp-secret"
    assert smtp.sender == "Mentoring <mentoring@example.org>"
    assert channels.webhook.default_url == "https://hooks.example.org/mentoring"
    assert channels.webhook.secret.get_secret_value() == "hook-secret"


def test_empty_variables_count_as_unset(env: pytest.MonkeyPatch) -> None:
    """Compose passes optional settings as ${VAR:-}: empty must not mean 'log in as ""'."""
    env.setenv("MENTORFLOW_SMTP_HOST", "mailpit")
    env.setenv("MENTORFLOW_SMTP_USERNAME", "")
    env.setenv("MENTORFLOW_SMTP_PASSWORD", "")
    env.setenv("MENTORFLOW_WEBHOOK_SECRET", "")

    settings = load_settings()
    check_settings(settings)

    assert settings.smtp_username is None and settings.smtp_password is None
    assert channels_config(settings).webhook is None


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"MENTORFLOW_SMTP_SENDER": "nobody"}, "MENTORFLOW_SMTP_SENDER 'nobody' is not an address"),
        (
            {"MENTORFLOW_SMTP_USERNAME": "mentoring"},
            "MENTORFLOW_SMTP_USERNAME and MENTORFLOW_SMTP_PASSWORD go together",
        ),
        (
            {"MENTORFLOW_WEBHOOK_URL": "ftp://hooks.example.org", "MENTORFLOW_WEBHOOK_SECRET": "s"},
            "MENTORFLOW_WEBHOOK_URL must start with http:// or https://",
        ),
        (
            {"MENTORFLOW_WEBHOOK_URL": "https://hooks.example.org"},
            "MENTORFLOW_WEBHOOK_URL is set but MENTORFLOW_WEBHOOK_SECRET is not",
        ),
    ],
)
async def test_a_channel_that_cannot_send_stops_the_worker(
    env: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    env.setenv("MENTORFLOW_SMTP_HOST", "mailpit")
    for name, value in variables.items():
        env.setenv(name, value)

    with refused(named):
        await run_worker(load_settings())


def test_secrets_are_never_echoed_in_a_refusal(env: pytest.MonkeyPatch) -> None:
    env.setenv("MENTORFLOW_SMTP_PORT", "not-a-port")
    env.setenv("MENTORFLOW_SMTP_PASSWORD", "hunter2")
    env.setenv("MENTORFLOW_SMTP_USERNAME", "mentoring")
    env.setenv("MENTORFLOW_SMTP_HOST", "mailpit")
    env.setenv("MENTORFLOW_CODEC_KEYS", "k1:hunter2")

    with refused("MENTORFLOW_SMTP_PORT='not-a-port'") as bad_port:
        load_settings()
    env.setenv("MENTORFLOW_SMTP_PORT", "25")
    with refused("MENTORFLOW_CODEC_KEYS") as bad_key:
        check_settings(load_settings())

    assert "hunter2" not in str(bad_port.value) + str(bad_key.value)


# ----------------------------------------------------------------------------- codec keys


def test_codec_keys_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    old, new = generate_key("2025"), generate_key("2026")
    env.setenv("MENTORFLOW_CODEC_KEYS", f"{new},{old}")
    env.setenv("MENTORFLOW_CODEC_ACTIVE_KEY", "2026")

    settings = load_settings()
    check_settings(settings)

    assert settings.codec_keys is not None
    assert settings.codec_keys.get_secret_value() == f"{new},{old}"
    assert settings.codec_active_key == "2026"


async def test_an_active_key_that_is_not_configured_stops_the_worker(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("MENTORFLOW_CODEC_KEYS", generate_key("2025"))
    env.setenv("MENTORFLOW_CODEC_ACTIVE_KEY", "2026")

    with refused("MENTORFLOW_CODEC_ACTIVE_KEY"):
        await run_worker(load_settings())


# ----------------------------------------------------------------------------- observability


def test_observability_comes_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("MENTORFLOW_METRICS_PORT", "9464")
    env.setenv("MENTORFLOW_METRICS_HOST", "0.0.0.0")
    env.setenv("MENTORFLOW_LOG_FORMAT", "json")
    env.setenv("MENTORFLOW_LOG_LEVEL", "debug")
    env.setenv("MENTORFLOW_TRACING", "true")

    settings = load_settings()
    check_settings(settings)

    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 9464)
    assert (settings.log_format, settings.log_level, settings.tracing) == ("json", "debug", True)


def test_an_unknown_log_format_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("MENTORFLOW_LOG_FORMAT", "xml")

    with refused("MENTORFLOW_LOG_FORMAT='xml' is not valid: Input should be 'console' or 'json'"):
        load_settings()


async def test_a_metrics_port_in_use_stops_the_worker(env: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env.setenv("MENTORFLOW_METRICS_PORT", str(taken.getsockname()[1]))

        with refused("MENTORFLOW_METRICS_PORT=.*cannot serve metrics on 127.0.0.1"):
            await run_worker(load_settings())


def test_tracing_without_the_opentelemetry_packages_is_refused(env: pytest.MonkeyPatch) -> None:
    """The packages are an optional extra; asking for traces without them is a setup error."""
    for module in ("opentelemetry", *TRACING_MODULES):
        env.setitem(sys.modules, module, None)  # how Python spells "not installed"
    env.setenv("MENTORFLOW_TRACING", "true")

    with refused("MENTORFLOW_TRACING=true needs the OpenTelemetry packages"):
        check_settings(load_settings())


# ----------------------------------------------------------------------------- names


def test_every_setting_has_an_environment_variable() -> None:
    names = all_env_names()

    assert set(names.values()) == set(Settings.model_fields)
    assert names["TEMPORAL_ADDRESS"] == "temporal_address"
    assert env_name("namespace") == "TEMPORAL_NAMESPACE"
    assert env_name("smtp_port") == "MENTORFLOW_SMTP_PORT"
