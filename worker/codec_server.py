"""The codec server: decrypts payloads for the Temporal web UI and the `temporal` CLI.

It speaks Temporal's remote codec protocol: `POST .../encode` and `POST .../decode`, each
taking and returning `{"payloads": [...]}` in protobuf JSON. Only the last path segment
matters, so it can be mounted under any prefix (e.g. `/{namespace}/decode`).

Whoever can call /decode reads every note and every piece of feedback, so every call needs
the bearer token, and browsers may call it only from the configured UI origin. Built on
Starlette (its CORS middleware answers preflights correctly, which is easy to get wrong by
hand) served by uvicorn; the codec is async, which an ASGI app calls without thread hops.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Sequence

import structlog
import uvicorn
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from worker.codec import DecryptionError, UnknownKeyError

log = structlog.get_logger("mentorflow.codec_server")

MAX_BODY = 8 * 1024 * 1024  # a page of history in the UI; far above Temporal's 2 MiB payload cap
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Namespace")


class CodecEndpoint:
    def __init__(
        self, codec: PayloadCodec, token: SecretStr, namespace: str, path_token: bool = False
    ) -> None:
        self._codec = codec
        self._token = token
        self._namespace = namespace
        self._path_token = path_token

    async def handle(self, request: Request) -> Response:
        action = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if action not in ("encode", "decode"):
            return _error(404, "unknown endpoint; POST to .../encode or .../decode")
        if not self._authorised(request):
            log.warning("codec call refused", action=action, reason="bad or missing token")
            return _error(
                401,
                "missing or wrong bearer token; send 'Authorization: Bearer <token>' with the "
                "value of MENTORFLOW_CODEC_TOKEN",
                headers={"WWW-Authenticate": 'Bearer realm="mentorflow-codec"'},
            )
        namespace = request.headers.get("x-namespace")
        if namespace and namespace != self._namespace:
            return _error(403, f"this codec server serves namespace '{self._namespace}' only")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"request body over {MAX_BODY} bytes; send fewer payloads")
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as err:
            return _error(400, f"body is not Payloads in protobuf JSON: {err}")
        try:
            if action == "encode":
                result = await self._codec.encode(payloads.payloads)
            else:
                result = await self._codec.decode(payloads.payloads)
        except (UnknownKeyError, DecryptionError) as err:
            log.warning("codec call failed", action=action, error=str(err))
            return _error(400, str(err))
        log.info("codec call", action=action, payloads=len(result), namespace=namespace)
        return Response(
            json_format.MessageToJson(Payloads(payloads=result)),
            media_type="application/json",
        )

    def _authorised(self, request: Request) -> bool:
        expected = self._token.get_secret_value().encode()
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return True
        if not self._path_token:
            return False
        # The dev server's web UI cannot send a header: its codec endpoint carries the token
        # as the first path segment (/<token>/decode), so the UI is as trusted as its own URL.
        first = request.url.path.strip("/").split("/", 1)[0]
        return hmac.compare_digest(first.encode(), expected)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def build_app(
    codec: PayloadCodec,
    token: SecretStr,
    *,
    cors_origins: Sequence[str] = (),
    namespace: str = "default",
    path_token: bool = False,
) -> Starlette:
    """CORS sits outside the token check: a browser's preflight carries no Authorization.
    `path_token` also accepts the token as the path's first segment (the embedded web UI's)."""
    if not token.get_secret_value().strip():
        raise ValueError("MENTORFLOW_CODEC_TOKEN is empty; set a long random token")
    endpoint = CodecEndpoint(codec, token, namespace, path_token)
    return Starlette(
        routes=[Route("/{path:path}", endpoint.handle, methods=["POST"])],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["POST"],
                allow_headers=list(ALLOWED_HEADERS),
                allow_credentials=True,
                max_age=600,
            )
        ],
    )


def server(app: Starlette, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server that logs through our handlers and keeps no access log of its own."""
    config = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_config=None, lifespan="off"
    )
    return uvicorn.Server(config)


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening socket, so port 0 gives a free port the caller can read back."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock
