"""The codec server on loopback: decodes for the token holder and the UI origin only."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.testing import WorkflowEnvironment

from tests.conftest import installed_binary
from tests.test_codec import DANA, NOTES, drive_a_short_lifecycle, encrypted_worker
from worker.codec import KEY_ID, EncryptionCodec, KeyRing, codec_from, generate_key
from worker.codec_server import bound_socket, build_app, server
from worker.settings import Settings

TOKEN = "tok-" + "x7Yq" * 8
UI = "http://localhost:8233"
OLD_KEY = generate_key("2025-11")
NEW_KEY = generate_key("2026-05")
CODEC = EncryptionCodec(KeyRing.parse(f"{NEW_KEY},{OLD_KEY}"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def codec_url() -> AsyncIterator[str]:
    app = build_app(CODEC, SecretStr(TOKEN), cors_origins=[UI], namespace="default")
    sock = bound_socket("127.0.0.1", 0)
    running = server(app, "127.0.0.1", 0)
    task = asyncio.create_task(running.serve(sockets=[sock]))
    while not running.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    running.should_exit = True
    await task


def body(*payloads: Payload) -> dict[str, Any]:
    parsed: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return parsed


def payloads(response: httpx.Response) -> list[Payload]:
    return list(json_format.Parse(response.text, Payloads()).payloads)


def note(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_decode_with_the_token_returns_the_clear_payloads(codec_url: str) -> None:
    sealed = await CODEC.encode([note("meeting notes"), note("feedback")])
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{codec_url}/default/decode",
            json=body(*sealed),
            headers=AUTH | {"X-Namespace": "default"},
        )
    assert response.status_code == 200
    assert [p.data for p in payloads(response)] == [b'"meeting notes"', b'"feedback"']
    # the wire form is protobuf JSON: base64 bytes under camel-free keys
    assert (
        response.json()["payloads"][0]["metadata"]["encoding"]
        == base64.b64encode(b"json/plain").decode()
    )


async def test_encode_then_decode_round_trips_under_the_active_key(codec_url: str) -> None:
    async with httpx.AsyncClient(base_url=codec_url, headers=AUTH) as http:
        encoded = await http.post("/encode", json=body(note("hello")))
        decoded = await http.post("/decode", json=encoded.json())
    assert payloads(encoded)[0].metadata[KEY_ID] == b"2026-05"
    assert payloads(decoded)[0].data == b'"hello"'


async def test_without_or_with_a_wrong_token_the_answer_is_401(codec_url: str) -> None:
    sealed = await CODEC.encode([note("private")])
    async with httpx.AsyncClient(base_url=codec_url) as http:
        missing = await http.post("/decode", json=body(*sealed))
        wrong = await http.post(
            "/decode", json=body(*sealed), headers={"Authorization": "Bearer nope"}
        )
        basic = await http.post(
            "/decode", json=body(*sealed), headers={"Authorization": f"Basic {TOKEN}"}
        )
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert "private" not in response.text
        assert "MENTORFLOW_CODEC_TOKEN" in response.json()["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")


async def test_cors_answers_the_ui_origin_only(codec_url: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    sealed = await CODEC.encode([note("x")])
    async with httpx.AsyncClient(base_url=codec_url) as http:
        ui_preflight = await http.options("/decode", headers=preflight | {"Origin": UI})
        evil_preflight = await http.options(
            "/decode", headers=preflight | {"Origin": "http://evil.example"}
        )
        ui_call = await http.post("/decode", json=body(*sealed), headers=AUTH | {"Origin": UI})
        evil_call = await http.post(
            "/decode", json=body(*sealed), headers=AUTH | {"Origin": "http://evil.example"}
        )
        refused = await http.post("/decode", json=body(*sealed), headers={"Origin": UI})

    assert ui_preflight.status_code == 200
    assert ui_preflight.headers["Access-Control-Allow-Origin"] == UI
    allowed = ui_preflight.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "x-namespace"} <= set(allowed.split(", "))
    assert evil_preflight.status_code == 400
    assert "Access-Control-Allow-Origin" not in evil_preflight.headers
    assert ui_call.headers["Access-Control-Allow-Origin"] == UI
    assert "Access-Control-Allow-Origin" not in evil_call.headers
    # a 401 still carries CORS headers, so the UI can tell the user the token is wrong
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == UI


async def test_bad_requests_are_explained(codec_url: str) -> None:
    stranger = EncryptionCodec(KeyRing.parse(generate_key("someone-elses")))
    foreign = await stranger.encode([note("x")])
    async with httpx.AsyncClient(base_url=codec_url, headers=AUTH) as http:
        not_json = await http.post("/decode", content=b"{not json")
        unknown_key = await http.post("/decode", json=body(*foreign))
        other_namespace = await http.post(
            "/decode", json=body(note("x")), headers={"X-Namespace": "payroll"}
        )
        elsewhere = await http.post("/export", json=body(note("x")))

    assert not_json.status_code == 400 and "protobuf JSON" in not_json.json()["error"]
    assert unknown_key.status_code == 400
    assert "'someone-elses'" in unknown_key.json()["error"]
    assert "MENTORFLOW_CODEC_KEYS" in unknown_key.json()["error"]
    assert other_namespace.status_code == 403
    assert elsewhere.status_code == 404


def test_an_empty_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="MENTORFLOW_CODEC_TOKEN is empty"):
        build_app(CODEC, SecretStr("  "))


@pytest.mark.devserver
async def test_the_temporal_cli_reads_a_sealed_history_through_the_codec_server(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with encrypted_worker(dev_env, settings) as sealed:
        rid = await drive_a_short_lifecycle(
            sealed.client, settings.task_queue, await dev_env.get_current_time()
        )
        codec = codec_from(sealed.settings)
        assert codec is not None
        app = build_app(codec, SecretStr(TOKEN), cors_origins=[UI])
        sock = bound_socket("127.0.0.1", 0)
        running = server(app, "127.0.0.1", 0)
        task = asyncio.create_task(running.serve(sockets=[sock]))
        while not running.started:
            await asyncio.sleep(0.01)
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}/{{namespace}}"
        try:
            without = await _show(dev_env, rid)
            decoded = await _show(
                dev_env, rid, "--codec-endpoint", endpoint, "--codec-auth", f"Bearer {TOKEN}"
            )
        finally:
            running.should_exit = True
            await task

    assert NOTES not in without
    assert NOTES in decoded and DANA.email in decoded


def _payload_text(value: Any) -> Iterator[str]:
    """The data of every payload in `temporal workflow show --output json`, base64 undone."""
    if isinstance(value, dict):
        if "metadata" in value and "data" in value:
            yield base64.b64decode(value["data"]).decode(errors="replace")
        for inner in value.values():
            yield from _payload_text(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _payload_text(inner)


async def _show(env: WorkflowEnvironment, workflow_id: str, *extra: str) -> str:
    """`temporal workflow show` as an operator would run it; output and errors together."""
    process = await asyncio.create_subprocess_exec(
        installed_binary("temporal"),
        "workflow",
        "show",
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        "-w",
        workflow_id,
        "--output",
        "json",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")
    return "\n".join(_payload_text(json.loads(output)))


async def test_a_token_in_the_path_opens_only_a_codec_built_for_the_web_ui() -> None:
    """The embedded web UI cannot send a header; `mentorflow up` puts the token in its URL."""
    sealed = await CODEC.encode([note("meeting notes")])
    for path_token, expected in ((True, 200), (False, 401)):
        app = build_app(CODEC, SecretStr(TOKEN), cors_origins=[UI], path_token=path_token)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
            opened = await http.post(f"/{TOKEN}/decode", json=body(*sealed))
            wrong = await http.post(f"/{TOKEN[:-1]}x/decode", json=body(*sealed))
            bare = await http.post("/decode", json=body(*sealed))
        assert opened.status_code == expected, opened.text
        assert (wrong.status_code, bare.status_code) == (401, 401)
        if path_token:
            assert payloads(opened)[0].data == b'"meeting notes"'
