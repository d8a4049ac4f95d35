"""Payload encryption: what reaches the Temporal server is ciphertext, and keys rotate."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import typer
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.testing import WorkflowEnvironment

from client.relationships import act, start_relationship, status
from ledger.records import recorded_events
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.participants import Participant
from mentorship.policy import Policy
from tests.factories import MENTEE, MENTOR, commitment, goals, mentee_feedback, mentor_feedback
from tests.factories import request as make_request
from worker.app import build_worker, lifecycle_activities
from worker.codec import (
    ENCODING,
    KEY_ID,
    CodecKeyError,
    DecryptionError,
    EncryptionCodec,
    KeyRing,
    UnknownKeyError,
    generate_key,
)
from worker.settings import Settings
from worker.temporal import data_converter

KEY_A = generate_key("key-a")
KEY_B = generate_key("key-b")


def codec(spec: str, active: str | None = None) -> EncryptionCodec:
    return EncryptionCodec(KeyRing.parse(spec, active))


def plain(text: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text)


# ---------------------------------------------------------------------------- the codec


async def test_a_payload_is_sealed_under_the_active_key_and_opens_again() -> None:
    sealer = codec(KEY_A)
    original = plain(b'{"notes": "talked about the reorg"}')

    [sealed] = await sealer.encode([original])
    [opened] = await sealer.decode([sealed])

    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"key-a"
    assert b"reorg" not in sealed.SerializeToString()
    assert opened == original


async def test_each_payload_gets_its_own_nonce() -> None:
    sealer = codec(KEY_A)
    first, second = await sealer.encode([plain(b"same"), plain(b"same")])
    assert first.data != second.data
    assert first.data[:12] != second.data[:12]


async def test_old_keys_still_decrypt_after_rotation_and_new_payloads_use_the_new_key() -> None:
    [under_a] = await codec(KEY_A).encode([plain(b"written before the rotation")])
    rotated = codec(f"{KEY_B},{KEY_A}")

    [opened] = await rotated.decode([under_a])
    [under_b] = await rotated.encode([plain(b"written after")])

    assert opened.data == b"written before the rotation"
    assert under_b.metadata[KEY_ID] == b"key-b"
    [again] = await codec(KEY_B).decode([under_b])
    assert again.data == b"written after"


async def test_an_unknown_key_id_names_the_key_and_the_fix() -> None:
    [under_a] = await codec(KEY_A).encode([plain(b"x")])
    with pytest.raises(UnknownKeyError, match=r"'key-a'.*MENTORFLOW_CODEC_KEYS") as raised:
        await codec(KEY_B).decode([under_a])
    assert raised.value.key_id == "key-a"
    assert "key-b" in str(raised.value)  # what is known, to spot a typo


async def test_the_active_key_can_be_chosen_among_the_listed_ones() -> None:
    [sealed] = await codec(f"{KEY_A},{KEY_B}", active="key-b").encode([plain(b"x")])
    assert sealed.metadata[KEY_ID] == b"key-b"
    with pytest.raises(CodecKeyError, match="active key 'key-c'"):
        KeyRing.parse(KEY_A, active="key-c")


async def test_an_altered_payload_or_swapped_key_id_does_not_open() -> None:
    shared_id_other_key = "key-a:" + generate_key("x").split(":", 1)[1]
    [sealed] = await codec(KEY_A).encode([plain(b"secret")])
    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])

    with pytest.raises(DecryptionError, match="'key-a' does not authenticate"):
        await codec(KEY_A).decode([flipped])
    with pytest.raises(DecryptionError):
        await codec(shared_id_other_key).decode([sealed])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"key-b"
    with pytest.raises(DecryptionError):  # the key id is authenticated data
        await codec(f"{KEY_A},key-b:{KEY_A.split(':', 1)[1]}").decode([relabelled])


async def test_payloads_written_before_encryption_was_switched_on_still_read() -> None:
    original = plain(b'"hello"')
    assert await codec(KEY_A).decode([original]) == [original]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "lists no keys"),
        ("just-a-key", "has no ':'"),
        ("k1:not base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
        (f"{KEY_A},{KEY_A}", "listed twice"),
        ("bad id:" + KEY_A.split(":", 1)[1], "key id"),
    ],
)
def test_bad_key_lists_are_refused_with_the_entry_and_never_the_key(
    spec: str, problem: str
) -> None:
    with pytest.raises(CodecKeyError, match=problem) as raised:
        KeyRing.parse(spec)
    secret = spec.partition(":")[2].split(",")[0]
    if len(secret) > 4:
        assert secret not in str(raised.value)


def test_a_swapped_entry_does_not_echo_the_key() -> None:
    secret = KEY_A.split(":", 1)[1]
    with pytest.raises(CodecKeyError) as raised:
        KeyRing.parse(f"{secret}:key-a")
    assert secret not in str(raised.value)
    assert secret not in repr(KeyRing.parse(KEY_A))


# ---------------------------------------------------------------------------- settings


def test_without_keys_the_converter_is_the_plain_pydantic_one() -> None:
    assert data_converter().payload_codec is None
    assert issubclass(data_converter().payload_converter_class, PydanticPayloadConverter)
    assert data_converter(Settings(_env_file=None)).payload_codec is None


async def test_keys_from_the_environment_encrypt_what_the_converter_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MENTORFLOW_CODEC_KEYS", f"{KEY_B}, {KEY_A}")
    converter = data_converter(Settings(_env_file=None))
    command = goals()

    [payload] = await converter.encode([command])
    [back] = await converter.decode([payload], [c.SubmitGoals])

    assert payload.metadata[KEY_ID] == b"key-b"
    assert b"design review" not in payload.data
    assert back == command
    assert KEY_A.split(":", 1)[1] not in repr(Settings(_env_file=None))


async def test_keys_from_a_file_with_comments_and_lines(tmp_path: Path) -> None:
    keys = tmp_path / "codec.keys"
    keys.write_text(f"# rotated 2026-05\n{KEY_B}\n{KEY_A}  # old, still read\n")
    converter = data_converter(Settings(_env_file=None, codec_keys_file=keys))
    [under_a] = await data_converter(Settings(_env_file=None, codec_keys=SecretStr(KEY_A))).encode(
        ["old"]
    )

    [payload] = await converter.encode(["new"])

    assert payload.metadata[KEY_ID] == b"key-b"
    assert await converter.decode([under_a]) == ["old"]


def test_a_missing_keys_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.keys"
    with pytest.raises(CodecKeyError, match=r"nope\.keys"):
        data_converter(Settings(_env_file=None, codec_keys_file=missing))


# ---------------------------------------------------------------------------- the raw history


DANA = Participant(id="m-7731", name="Dana Quillfeather", email="dana.quillfeather@corp.example")
EZRA = Participant(id="e-4410", name="Ezra Vantablack", email="ezra.vantablack@corp.example")
NOTES = "Talked through the confidential reorganisation of the payments team"
WINS = "Shipped the ledger migration without downtime"

CLEAR_TEXT = [
    DANA.name,
    DANA.email,
    EZRA.name,
    EZRA.email,
    NOTES,
    WINS,
    goals().objectives[0],
    commitment().availability,
    mentor_feedback(1).strengths[0],
    mentor_feedback(1).development_areas[0].behaviour,
    mentee_feedback(1).what_helps[0],
]


@dataclass
class Encrypted:
    """A worker and a client that share the codec, on the real dev server."""

    client: Client
    settings: Settings
    ledger: Ledger


@asynccontextmanager
async def encrypted_worker(
    dev_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Encrypted]:
    sealed = settings.model_copy(update={"codec_keys": SecretStr(f"{KEY_B},{KEY_A}")})
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(sealed),
    )
    ledger = Ledger.from_url(sealed.resolved_ledger_url)
    try:
        async with build_worker(client, sealed, lifecycle_activities(sealed, ledger)):
            yield Encrypted(client, sealed, ledger)
    finally:
        ledger.dispose()


async def drive_a_short_lifecycle(
    client: Client, task_queue: str, now: datetime, **people: Participant
) -> str:
    """Onboarding, a logged meeting with notes and wins, feedback both ways."""
    request = make_request(
        mentor=people.get("mentor", DANA),
        mentee=people.get("mentee", EZRA),
        policy=Policy(feedback_every_meetings=1),
        relationship_id=f"sealed-{uuid.uuid4().hex[:8]}",
    )
    started = await start_relationship(client, request, task_queue, now)
    rid = started.relationship_id
    mentor = MENTOR.model_copy(update={"id": request.mentor.id})
    mentee = MENTEE.model_copy(update={"id": request.mentee.id})
    await act(client, rid, goals(actor=mentee))
    await act(client, rid, commitment(actor=mentor))
    await act(client, rid, c.ConfirmAgreement(actor=mentee))
    await act(client, rid, c.ConfirmAgreement(actor=mentor))
    agreed_at = (await status(client, rid)).state.agreed_at
    assert agreed_at is not None
    await act(
        client,
        rid,
        c.LogMeeting(
            actor=mentee, held_at=agreed_at, duration_minutes=45, notes=NOTES, wins=[WINS]
        ),
    )
    await act(client, rid, mentor_feedback(1).model_copy(update={"actor": mentor}))
    await act(client, rid, mentee_feedback(1).model_copy(update={"actor": mentee}))
    return rid


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a history event (inputs, results, failures, markers), except the
    search attributes: the server indexes those, so they stay readable (ids, never names)."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None or descriptor.name == "search_attributes":
            continue
        if descriptor.is_repeated:
            items = value.values() if hasattr(value, "values") else value
            for item in items:
                if isinstance(item, Message):
                    yield from payloads_in(item)
        else:
            yield from payloads_in(value)


@pytest.mark.devserver
async def test_the_server_never_sees_names_emails_notes_or_feedback_in_clear_text(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with encrypted_worker(dev_env, settings) as sealed:
        rid = await drive_a_short_lifecycle(
            sealed.client, settings.task_queue, await dev_env.get_current_time()
        )
        history = await dev_env.client.get_workflow_handle(rid).fetch_history()

    raw = b"".join(event.SerializeToString() for event in history.events)
    leaked = [text for text in CLEAR_TEXT if text.encode() in raw]
    assert leaked == []

    payloads = [p for event in history.events for p in payloads_in(event)]
    sealed_ones = [p for p in payloads if p.metadata["encoding"] == ENCODING]
    assert len(sealed_ones) > 20
    assert {p.metadata[KEY_ID] for p in sealed_ones} == {b"key-b"}
    # The SDK's own bookkeeping in markers is the one plain part: local activities (type,
    # attempt, time) and `workflow.patched` ids (names of code changes, no one's data).
    bookkeeping = {
        p.SerializeToString()
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        for details in event.marker_recorded_event_attributes.details.values()
        for p in details.payloads
    }
    assert [p for p in payloads if p.metadata["encoding"] != ENCODING] == [
        p for p in payloads if p.SerializeToString() in bookkeeping
    ]
    opened = await codec(f"{KEY_B},{KEY_A}").decode(payloads)
    readable = b"".join(p.data for p in opened)
    assert [text for text in CLEAR_TEXT if text.encode() not in readable] == []

    actors = {r.actor.role.value: r.actor.id for r in recorded_events(sealed.ledger.events(rid))}
    assert actors["mentor"] == DANA.id and actors["mentee"] == EZRA.id


@pytest.mark.devserver
async def test_status_without_the_keys_is_one_line_naming_the_setting(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import connection
    from cli.status_command import fetch_status

    async with encrypted_worker(dev_env, settings) as sealed:
        started = await start_relationship(
            sealed.client,
            make_request(relationship_id=f"sealed-{uuid.uuid4().hex[:8]}"),
            settings.task_queue,
            await dev_env.get_current_time(),
        )
        target = dev_env.client.service_client.config.target_host
        for keys, said in (
            (None, "error: this relationship's data is encrypted and this CLI has no codec keys"),
            (
                generate_key("key-c"),
                "error: payload is encrypted with key 'key-b', which is not configured here",
            ),
        ):
            monkeypatch.setenv("TEMPORAL_ADDRESS", target)
            if keys is None:
                monkeypatch.delenv("MENTORFLOW_CODEC_KEYS", raising=False)
            else:
                monkeypatch.setenv("MENTORFLOW_CODEC_KEYS", keys)
            connection.settings.cache_clear()

            async def work() -> object:
                return await fetch_status(await connection.client(), started.relationship_id)

            with pytest.raises(typer.Exit) as stopped:
                await asyncio.to_thread(connection.run, work)
            assert stopped.value.exit_code == 1
            err = capsys.readouterr().err.strip()
            assert err.startswith(said) and len(err.splitlines()) == 1, err
    connection.settings.cache_clear()
