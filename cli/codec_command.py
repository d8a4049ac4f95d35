"""`mentorflow codec-server` and `mentorflow codec-key`: payload encryption, by hand."""

from __future__ import annotations

import typer

from cli.app import app
from cli.connection import settings
from cli.output import console, fail
from worker.codec import CodecKeyError, codec_from
from worker.codec_server import build_app, server


@app.command("codec-server")
def codec_server(
    port: int | None = typer.Option(
        None, help="Port to listen on [default: MENTORFLOW_CODEC_PORT, 8081]"
    ),
    host: str | None = typer.Option(
        None, help="Interface to bind [default: MENTORFLOW_CODEC_HOST, 127.0.0.1]"
    ),
) -> None:
    """Decrypt payloads for the Temporal web UI and the `temporal` CLI (bearer token required).

    Example: MENTORFLOW_CODEC_TOKEN=... mentorflow codec-server --port 8081, then in the UI
    set the codec endpoint to http://127.0.0.1:8081, or run
    `temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8081
    --codec-auth "Bearer $MENTORFLOW_CODEC_TOKEN"`.
    """
    current = settings()
    try:
        codec = codec_from(current)
    except CodecKeyError as err:
        fail(str(err))
    if codec is None:
        fail(
            "no codec keys configured; set MENTORFLOW_CODEC_KEYS (id:base64key, comma-separated) "
            "or MENTORFLOW_CODEC_KEYS_FILE (`mentorflow codec-key` prints a new key)"
        )
    if current.codec_token is None or not current.codec_token.get_secret_value().strip():
        fail("MENTORFLOW_CODEC_TOKEN is not set; callers must present it as a bearer token")
    origins = [current.codec_cors_origin] if current.codec_cors_origin else []
    web = build_app(codec, current.codec_token, cors_origins=origins, namespace=current.namespace)
    bind_host = host or current.codec_host
    bind_port = port or current.codec_port
    console.print(
        f"codec server on http://{bind_host}:{bind_port} for namespace {current.namespace}; "
        f"encrypting with key '{codec.active_key}'; browser origin: "
        f"{', '.join(origins) or 'none'}",
        highlight=False,
    )
    server(web, bind_host, bind_port).run()
