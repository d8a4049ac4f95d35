"""Templates, invites and the three channels, each against a real peer on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from icalendar import Calendar
from pydantic import SecretStr, ValidationError

from activities.channels import (
    ChannelsConfig,
    OutboxChannel,
    OutgoingMessage,
    PermanentDeliveryError,
    SmtpChannel,
    SmtpConfig,
    TemporaryDeliveryError,
    WebhookChannel,
    WebhookConfig,
)
from activities.contacts import ProgramContact
from activities.mail_policy import EIGHT_BIT
from activities.rendering import TEMPLATES, build_invite, render
from mentorship.notifications import MeetingInvite, Notification, NotificationKind, Recipient
from mentorship.participants import Channel as ChannelName
from mentorship.participants import Participant, Role

# ------------------------------------------------------------------------------ people

ANA = Participant(id="ana", name="Ana Mentor", email="ana@example.org", timezone="Europe/Berlin")
BO = Participant(id="bo", name="Bo Mentee", email="bo@example.org")
OLU = Participant(id="olu", name="Olu Operator", email="olu@example.org")
MENTOR = Recipient(role=Role.MENTOR, person=ANA)
MENTEE = Recipient(role=Role.MENTEE, person=BO)
OPERATOR = Recipient(role=Role.OPERATOR, person=OLU)
SECRET = "whsec-correct-horse-battery-staple"

BASE = {
    "program": "Acme Mentoring",
    "relationship_id": "rel-ana-bo",
    "mentor_name": "Ana Mentor",
    "mentee_name": "Bo Mentee",
}
MEETING_AT = "2026-03-17T14:00:00+00:00"
FULL: dict[NotificationKind, dict[str, Any]] = {
    NotificationKind.WELCOME: {"role": "mentee", "deadline": "2026-03-01T17:00:00+00:00"},
    NotificationKind.ONBOARDING_REMINDER: {
        "missing": ["goals", "commitment", "confirmation"],
        "deadline": "2026-03-01T17:00:00+00:00",
    },
    NotificationKind.ONBOARDING_ESCALATION: {
        "missing": ["commitment"],
        "deadline": "2026-03-01T17:00:00+00:00",
        "grace_until": "2026-03-08T17:00:00+00:00",
    },
    NotificationKind.NOT_STARTED: {"reason": "onboarding not completed within the grace period"},
    NotificationKind.AGREEMENT_CONFIRMED: {
        "cadence": "every two weeks",
        "format": "virtual",
        "first_meeting": "2026-03-03T09:00:00+00:00",
        "objectives": ["Lead a design review", "Estimate with confidence"],
    },
    NotificationKind.MEETING_PREP: {
        "meeting_number": 3,
        "meeting_at": MEETING_AT,
        "open_action_items": ["Draft the RFC", "Shadow an incident review"],
        "last_notes": "Talked about estimates.\nTry splitting work smaller.",
    },
    NotificationKind.MEETING_REMINDER: {
        "meeting_number": 3,
        "meeting_at": MEETING_AT,
        "format": "virtual",
        "duration_minutes": 45,
        "agenda": ["Promotion path", "Feedback on my RFC"],
    },
    NotificationKind.PERSONAL_LINK: {
        "url": "https://portal.example.org/p/abc",
        "days": 30,
        "mentor_name": "Ana Mentor",
        "mentee_name": "Bo Mentee",
    },
    NotificationKind.OPERATOR_SIGN_IN: {
        "sign_in_url": "https://portal.example.org/ops/s/abc",
        "minutes": 15,
        "programs": "eng-2026",
    },
    NotificationKind.MEETING_SCHEDULED: {
        "meeting_number": 3,
        "meeting_at": MEETING_AT,
        "format": "virtual",
        "cause": "after meeting 2",
        "link": "https://meet.example.org/ana-bo",
        "place": "",
    },
    NotificationKind.MEETING_RESCHEDULED: {
        "meeting_number": 3,
        "meeting_at": "2026-03-18T14:00:00+00:00",
        "previous_at": MEETING_AT,
        "reason": "Ana is travelling",
    },
    NotificationKind.MEETING_CANCELLED: {
        "meeting_number": 3,
        "meeting_at": MEETING_AT,
        "reason": "the relationship ended (cancelled): cancelled by the operator: program closed",
    },
    NotificationKind.MEETING_MISSED: {
        "meeting_number": 3,
        "meeting_at": MEETING_AT,
        "grace_days": 2,
    },
    NotificationKind.WIN_CELEBRATION: {
        "meeting_number": 3,
        "wins": ["Shipped the RFC", "Ran the design review"],
    },
    NotificationKind.FEEDBACK_REQUEST: {"loop_number": 1, "due_at": "2026-03-20T12:00:00+00:00"},
    NotificationKind.ACTION_PLAN: {
        "loop_number": 1,
        "strengths": ["Clear writing"],
        "development_areas": ["Speaking up early in meetings"],
        "items": [{"id": "i1", "description": "Open the next standup", "due": "2026-03-25"}],
    },
    NotificationKind.REPORT_BACK_REMINDER: {
        "loop_number": "1",
        "open_items": ["Open the next standup"],
        "due_at": "2026-03-25T00:00:00+00:00",
    },
    NotificationKind.LOOP_CLOSED: {"loop_number": 1},
    NotificationKind.CHECK_IN: {"reasons": ["2 meetings missed in a row"]},
    NotificationKind.AT_RISK: {"reasons": ["2 meetings missed in a row", "no contact for 40 days"]},
    NotificationKind.REVIEW_REQUEST: {
        "review_number": 2,
        "due_at": "2026-04-01T12:00:00+00:00",
        "reason": "periodic review",
    },
    NotificationKind.REVIEW_OUTCOME: {
        "decision": "evolve",
        "cadence": "monthly",
        "objectives": ["Mentor a new hire"],
    },
    NotificationKind.CADENCE_CHANGED: {"cadence": "monthly", "by": "olu"},
    NotificationKind.PAUSED: {
        "reason": "parental leave",
        "by": "olu",
        "by_name": "Olu Operator",
        "meeting_number": 3,
        "meeting_at": MEETING_AT,
    },
    NotificationKind.RESUMED: {
        "paused_days": 21,
        "meeting_number": 3,
        "meeting_at": "2026-04-07T14:00:00+00:00",
        "previous_at": MEETING_AT,
        "place": "Room 4.12, Main St 1",
    },
    NotificationKind.END_DATE_EXTENDED: {"end_date": "2026-09-30"},
    NotificationKind.REFLECTION_REQUEST: {
        "due_at": "2026-06-30T12:00:00+00:00",
        "reason": "the agreed end date",
    },
    NotificationKind.SUMMARY: {
        "outcome": "completed",
        "duration_days": 180,
        "meetings_held": 11,
        "meetings_missed": 1,
        "loops_closed": 2,
        "objectives_met": ["Lead a design review"],
        "wins": ["Shipped the RFC"],
    },
    NotificationKind.DELIVERY_FAILED: {
        "failed_key": "rel-ana-bo:meeting-3:prep-0",
        "failed_kind": "meeting_prep",
        "recipient": "bo@example.org",
        "error": "550 5.1.1 mailbox unavailable",
    },
    NotificationKind.LEDGER_BLOCKED: {
        "reason": "event 12 of the relationship is not in the ledger",
        "pending": 3,
    },
}


def notification(
    kind: NotificationKind = NotificationKind.MEETING_REMINDER,
    *,
    key: str = "rel-ana-bo:meeting-3:reminder-0",
    recipients: tuple[Recipient, ...] = (MENTOR, MENTEE),
    context: dict[str, Any] | None = None,
    invite: MeetingInvite | None = None,
) -> Notification:
    return Notification(
        key=key,
        kind=kind,
        relationship_id="rel-ana-bo",
        program="Acme Mentoring",
        recipients=recipients,
        context={**BASE, **FULL[kind]} if context is None else context,
        invite=invite,
    )


def outgoing(n: Notification, recipient: Recipient) -> OutgoingMessage:
    return OutgoingMessage(notification=n, recipient=recipient, rendered=render(n, recipient))


def meeting_invite(
    sequence: int = 0, start: str = MEETING_AT, cancelled: bool = False
) -> MeetingInvite:
    return MeetingInvite(
        uid="rel-ana-bo-meeting-3@mentorflow",
        sequence=sequence,
        start=datetime.fromisoformat(start),
        duration=timedelta(minutes=45),
        summary="Mentoring: Ana Mentor & Bo Mentee (meeting 3)",
        description="Bring your questions.",
        location="https://meet.example.org/ana-bo",
        cancelled=cancelled,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ------------------------------------------------------------------------------ SMTP peer


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse on cue."""

    tempfail_first: int = 0
    reject: set[str] = field(default_factory=set)
    attempts: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    # A relay that does not offer 8BITMIME; what each MAIL FROM declared, and the raw DATA.
    no_8bitmime: bool = False
    mail_options: list[list[str]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.no_8bitmime:
            return [r for r in responses if "8BITMIME" not in r.upper()]
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts <= self.tempfail_first:
            return "451 4.3.0 Mailbox busy, try again later"
        raw = envelope.original_content or b""
        self.mail_options.append(list(envelope.mail_options))
        self.raw.append(raw)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"s3cret-pw"
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway certificate for 127.0.0.1, so TLS is tested for real and verified."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mentorflow test relay")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "relay.pem", folder / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Tls(cert_path, key_path)


SmtpPeer = Callable[..., tuple[Mailbox, int]]


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    """Start an aiosmtpd relay on 127.0.0.1: smtp_peer(Mailbox(...), **controller_options)."""
    controllers: list[Controller] = []

    def start(mailbox: Mailbox | None = None, **options: Any) -> tuple[Mailbox, int]:
        box = mailbox or Mailbox()
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return box, port

    yield start
    for controller in controllers:
        controller.stop()


def smtp_config(port: int, **overrides: Any) -> SmtpConfig:
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Acme Mentoring <mentoring@acme.example>",
        "timeout": 5,
    }
    fields.update(overrides)
    return SmtpConfig(**fields)


# ------------------------------------------------------------------------------ HTTP peer


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class WebhookReceiver:
    """A stdlib HTTP server that checks the HMAC itself and answers from a script."""

    def __init__(self, secret: str = SECRET, script: list[int] | None = None, delay: float = 0):
        self.secret = secret.encode()
        self.script = list(script or [])
        self.delay = delay
        self.hits: list[Hit] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                given = self.headers.get("X-Mentorflow-Signature", "")
                signature_ok = hmac.compare_digest(expected, given)
                status = receiver.script.pop(0) if receiver.script else 200
                if not signature_ok:
                    status = 401
                receiver.hits.append(Hit(self.path, dict(self.headers), body, signature_ok, status))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "7")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hooks/mentorflow") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def accepted(self) -> list[Hit]:
        return [hit for hit in self.hits if 200 <= hit.status < 300]


@pytest.fixture
def http_peer() -> Iterator[Callable[..., WebhookReceiver]]:
    receivers: list[WebhookReceiver] = []

    def start(**options: Any) -> WebhookReceiver:
        receiver = WebhookReceiver(**options)
        receiver.thread.start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.server.shutdown()
        receiver.server.server_close()


def hooked(person: Participant, url: str) -> Participant:
    return person.model_copy(update={"channel": ChannelName.WEBHOOK, "webhook_url": url})


# ============================================================================== templates


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_kind_has_a_subject_text_and_html_template(kind: NotificationKind) -> None:
    for suffix in ("subject.j2", "txt.j2", "html.j2"):
        assert (TEMPLATES / f"{kind.value}.{suffix}").is_file(), f"{kind.value}.{suffix}"


@pytest.mark.parametrize("filled", [True, False], ids=["full-context", "empty-context"])
@pytest.mark.parametrize("recipient", [MENTOR, MENTEE, OPERATOR], ids=lambda r: r.role.value)
@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_kind_renders_for_every_reader(
    kind: NotificationKind, recipient: Recipient, filled: bool
) -> None:
    n = notification(kind, recipients=(recipient,), context=None if filled else {})
    message = render(n, recipient)

    assert message.subject and "\n" not in message.subject
    assert message.text.startswith(f"Hi {recipient.person.name},\n")
    assert message.html.startswith("<!DOCTYPE html>") and message.html.rstrip().endswith("</html>")
    assert f"Hi {recipient.person.name}," in message.html
    for leak in ("None", "Undefined", "built-in method", "{{", "{%"):
        assert leak not in message.subject + message.text + message.html, leak
    about_no_pair = (NotificationKind.DELIVERY_FAILED, NotificationKind.OPERATOR_SIGN_IN)
    if filled and kind not in about_no_pair:
        about = {Role.MENTOR: "Bo Mentee", Role.MENTEE: "Ana Mentor"}.get(recipient.role)
        assert (about or "Bo Mentee") in message.text + message.subject


def test_meeting_reminder_shows_the_agenda_to_the_mentor_only() -> None:
    n = notification(NotificationKind.MEETING_REMINDER)
    to_mentor, to_mentee = render(n, MENTOR), render(n, MENTEE)

    assert "Bo Mentee's agenda:" in to_mentor.text
    assert "  - Promotion path\n  - Feedback on my RFC" in to_mentor.text
    assert "Promotion path" in to_mentor.html
    assert "Promotion path" not in to_mentee.text + to_mentee.html
    assert "Your agenda went to Ana Mentor" in to_mentee.text
    assert "45 minutes" in to_mentee.text


def test_meeting_prep_asks_the_mentee_to_reflect_question_and_set_objectives() -> None:
    text = render(notification(NotificationKind.MEETING_PREP, recipients=(MENTEE,)), MENTEE).text

    assert "Reflect on the last discussion" in text
    assert "Try splitting work smaller." in text
    assert "List your questions" in text
    assert "Set an objective" in text
    assert "  - Draft the RFC\n  - Shadow an incident review" in text
    assert "Tuesday 17 March 2026, 14:00 UTC" in text


def test_times_are_shown_in_the_readers_timezone() -> None:
    n = notification(NotificationKind.MEETING_REMINDER)
    assert "Tuesday 17 March 2026, 15:00 CET" in render(n, MENTOR).text  # Ana is in Berlin
    assert "Tuesday 17 March 2026, 14:00 UTC" in render(n, MENTEE).text


def test_user_text_is_escaped_in_html_but_kept_in_text() -> None:
    context = {
        **BASE,
        **FULL[NotificationKind.MEETING_REMINDER],
        "agenda": ["<script>x()</script>"],
    }
    message = render(notification(context=context), MENTOR)

    assert "&lt;script&gt;x()&lt;/script&gt;" in message.html
    assert "<script>" not in message.html
    assert "  - <script>x()</script>" in message.text


def test_win_celebration_celebrates_each_win() -> None:
    message = render(notification(NotificationKind.WIN_CELEBRATION), MENTEE)

    assert message.subject.startswith("🎉")
    assert "  - Shipped the RFC\n  - Ran the design review" in message.text
    assert "Nice work" in message.text


def test_action_plan_lists_strengths_areas_and_dated_actions() -> None:
    text = render(notification(NotificationKind.ACTION_PLAN), MENTEE).text

    assert "Strengths to keep using:\n  - Clear writing" in text
    assert "Areas to develop:\n  - Speaking up early in meetings" in text
    assert "  - Open the next standup (by Wednesday 25 March 2026)" in text


def test_check_in_talks_directly_and_names_the_reasons() -> None:
    text = render(notification(NotificationKind.CHECK_IN), MENTOR).text

    assert "is your mentoring with Bo Mentee still working for you?" in text
    assert "  - 2 meetings missed in a row" in text


def test_who_changed_something_reads_as_a_name_or_you() -> None:
    context = {**BASE, "cadence": "monthly", "by": "mentor:ana"}
    n = notification(NotificationKind.CADENCE_CHANGED, context=context)
    assert "(changed by you)" in render(n, MENTOR).text
    assert "(changed by Ana Mentor)" in render(n, MENTEE).text


def test_odd_context_values_cost_a_sentence_not_the_delivery() -> None:
    weird = {
        "wins": 5,
        "agenda": "just one string",
        "meeting_at": "next Tuesday-ish",
        "items": [None, "bare string item", {"due": "not a date"}],
        "missing": None,
        "meeting_number": None,
    }
    for kind in NotificationKind:
        for recipient in (MENTOR, MENTEE, OPERATOR):
            message = render(notification(kind, context=weird), recipient)
            assert message.subject and message.text and message.html
    reminder = render(notification(context=weird), MENTOR)
    assert "  - just one string" in reminder.text
    assert "When: next Tuesday-ish" in reminder.text


# ============================================================================== invites


def test_invite_is_a_request_with_stable_uid_sequence_and_utc_times() -> None:
    ics = build_invite(meeting_invite(sequence=2), "Acme <mentoring@acme.example>", [ANA, BO])
    calendar = Calendar.from_ical(ics)
    event: Any = calendar.walk("VEVENT")[0]

    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "rel-ana-bo-meeting-3@mentorflow"
    assert int(event["SEQUENCE"]) == 2
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == datetime(2026, 3, 17, 14, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 3, 17, 14, 45, tzinfo=UTC)
    assert b"DTSTART:20260317T140000Z" in ics
    assert str(event["ORGANIZER"]) == "mailto:mentoring@acme.example"
    attendees = sorted(str(a) for a in event["ATTENDEE"])
    assert attendees == ["mailto:ana@example.org", "mailto:bo@example.org"]
    assert sorted(a.params["CN"] for a in event["ATTENDEE"]) == ["Ana Mentor", "Bo Mentee"]
    # Nothing reads replies, so nobody is asked for one.
    assert all(a.params["RSVP"] == "FALSE" for a in event["ATTENDEE"])


def test_invite_converts_other_timezones_and_naive_times_to_utc() -> None:
    berlin = meeting_invite(start="2026-03-17T15:00:00+01:00")
    naive = meeting_invite(start="2026-03-17T14:00:00")
    for invite in (berlin, naive):
        ics = build_invite(invite, "m@acme.example", [BO])
        event = Calendar.from_ical(ics).walk("VEVENT")[0]
        assert event.decoded("DTSTART") == datetime(2026, 3, 17, 14, 0, tzinfo=UTC)


def test_cancelled_invite_is_a_cancel() -> None:
    ics = build_invite(meeting_invite(sequence=3, cancelled=True), "m@acme.example", [BO])
    calendar = Calendar.from_ical(ics)

    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


# ============================================================================== outbox


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_outbox_writes_one_line_per_recipient_with_the_documented_fields(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "dir" / "outbox.jsonl"
    channel = OutboxChannel(path)
    n = notification(invite=meeting_invite())

    await channel.send(outgoing(n, MENTOR))
    await channel.send(outgoing(n, MENTEE))

    lines = read_lines(path)
    assert [(x["recipient_role"], x["recipient_id"]) for x in lines] == [
        ("mentor", "ana"),
        ("mentee", "bo"),
    ]
    first = lines[0]
    assert first["key"] == n.key and first["kind"] == "meeting_reminder"
    assert first["relationship_id"] == "rel-ana-bo" and first["program"] == "Acme Mentoring"
    assert first["recipient_email"] == "ana@example.org"
    assert first["subject"] == render(n, MENTOR).subject
    assert "Promotion path" in first["text"]
    assert first["has_invite"] is True
    assert datetime.fromisoformat(first["sent_at"]).tzinfo is not None


async def test_outbox_does_not_write_the_same_message_twice_even_from_another_worker(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.jsonl"
    message = outgoing(notification(), MENTEE)

    await OutboxChannel(path).send(message)
    await OutboxChannel(path).send(message)  # a second worker process, same file
    await OutboxChannel(path).send(outgoing(notification(key="another-key"), MENTEE))

    assert [x["key"] for x in read_lines(path)] == [notification().key, "another-key"]


async def test_outbox_keeps_every_line_whole_under_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    channels = [OutboxChannel(path), OutboxChannel(path)]
    sends = [
        channels[i % 2].send(outgoing(notification(key=f"rel-ana-bo:k{i}"), MENTEE))
        for i in range(60)
    ]
    await asyncio.gather(*sends)

    keys = sorted(x["key"] for x in read_lines(path))
    assert keys == sorted(f"rel-ana-bo:k{i}" for i in range(60))


async def test_outbox_recovers_from_a_torn_line_left_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    path.write_text('{"key": "half-writ')

    await OutboxChannel(path).send(outgoing(notification(), MENTEE))

    raw = path.read_text().splitlines()
    assert raw[0] == '{"key": "half-writ'
    assert json.loads(raw[1])["recipient_id"] == "bo"


async def test_outbox_path_that_is_a_directory_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentDeliveryError, match="outbox_path"):
        await OutboxChannel(tmp_path).send(outgoing(notification(), MENTEE))


# ============================================================================== email


async def test_email_has_headers_text_html_and_an_invite(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer()
    n = notification(invite=meeting_invite())

    await SmtpChannel(smtp_config(port)).send(outgoing(n, MENTOR))

    [mail] = mailbox.messages
    assert mail["From"] == "Acme Mentoring <mentoring@acme.example>"
    assert mail["To"] == "Ana Mentor <ana@example.org>"
    assert mail["Subject"] == render(n, MENTOR).subject
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Mentorflow-Key"] == n.key
    assert mail["Message-ID"].endswith("@acme.example>")
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and "Bo Mentee's agenda:" in plain.get_content()
    assert html is not None and "<!DOCTYPE html>" in html.get_content()
    calendar_part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert str(Calendar.from_ical(attachment.get_content())["METHOD"]) == "REQUEST"


async def test_message_id_is_stable_per_notification_and_recipient(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer()
    channel = SmtpChannel(smtp_config(port))
    n = notification()

    await channel.send(outgoing(n, MENTOR))
    await channel.send(outgoing(n, MENTOR))
    await channel.send(outgoing(n, MENTEE))

    ids = [m["Message-ID"] for m in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]


def invite_of(mail: EmailMessage) -> Any:
    part: Any = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    return Calendar.from_ical(part.get_content()).walk("VEVENT")[0]


async def test_rescheduling_updates_the_same_calendar_event(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer()
    channel = SmtpChannel(smtp_config(port))
    first = notification(invite=meeting_invite(sequence=0))
    moved = notification(
        NotificationKind.MEETING_RESCHEDULED,
        key="rel-ana-bo:meeting-3:moved-1",
        invite=meeting_invite(sequence=1, start="2026-03-18T14:00:00+00:00"),
    )

    await channel.send(outgoing(first, MENTEE))
    await channel.send(outgoing(moved, MENTEE))

    before, after = (invite_of(m) for m in mailbox.messages)
    assert str(before["UID"]) == str(after["UID"]) == "rel-ana-bo-meeting-3@mentorflow"
    assert (int(before["SEQUENCE"]), int(after["SEQUENCE"])) == (0, 1)
    assert after.decoded("DTSTART") - before.decoded("DTSTART") == timedelta(days=1)


async def test_a_cancelled_meeting_sends_a_cancel(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer()
    n = notification(invite=meeting_invite(sequence=2, cancelled=True))

    await SmtpChannel(smtp_config(port)).send(outgoing(n, MENTEE))

    part = next(p for p in mailbox.messages[0].walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "CANCEL"


def _accented(n: Notification) -> tuple[Notification, Recipient]:
    jurgen = ANA.model_copy(update={"name": "Jürgen Müller-Lüdenscheidt"})
    mentor = Recipient(role=Role.MENTOR, person=jurgen)
    return n.model_copy(update={"recipients": (mentor, MENTEE)}), mentor


async def test_a_relay_without_8bitmime_gets_seven_bit_parts_and_no_body_declaration(
    smtp_peer: SmtpPeer,
) -> None:
    mailbox, port = smtp_peer(Mailbox(no_8bitmime=True))
    n, mentor = _accented(notification(invite=meeting_invite()))

    await SmtpChannel(smtp_config(port)).send(outgoing(n, mentor))

    [options] = mailbox.mail_options
    assert not [o for o in options if o.startswith("BODY")], "declared only where it is offered"
    assert all(byte < 0x80 for byte in mailbox.raw[0]), "nothing 8-bit crosses the wire"
    part = next(p for p in mailbox.messages[0].walk() if p.get_content_type() == "text/calendar")
    assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert "Jürgen Müller-Lüdenscheidt" in part.get_content().replace("\r\n ", "")


async def test_a_relay_offering_8bitmime_is_told_the_body_is_8bit(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer()
    n, mentor = _accented(notification(invite=meeting_invite()))

    await SmtpChannel(smtp_config(port)).send(outgoing(n, mentor))

    [options] = mailbox.mail_options
    assert "BODY=8BITMIME" in options
    part = next(p for p in mailbox.messages[0].walk() if p.get_content_type() == "text/calendar")
    assert "Jürgen Müller-Lüdenscheidt" in part.get_content().replace("\r\n ", "")


@pytest.mark.parametrize(
    "subject",
    [
        "Meeting 3 with Alexandra moved to Tue 8 Dec 2026, 14:00 (Europe/Berlin)",
        "Your mentoring with Alexandra Konstantinopoulou-Papadimitriou has a review waiting",
        "Cancelled: meeting 12 with Maximilian Oberhausen on Thursday 10 December 2026, 09:30",
        "Meeting 2 with Jürgen Müller moved to Tuesday 8 December 2026 at 14:00 (Europe/Berlin)",
    ],
)
def test_long_subjects_fold_at_spaces_with_text_on_the_first_line(subject: str) -> None:
    email_message = EmailMessage(policy=EIGHT_BIT)
    email_message["Subject"] = subject
    email_message.set_content("x")
    wire = email_message.as_bytes(policy=EIGHT_BIT.clone(linesep="\r\n"))
    header = wire.split(b"\r\nContent-Type")[0]
    lines = header.split(b"\r\n")
    assert lines[0].startswith(b"Subject: ") and len(lines[0]) > len(b"Subject: ")
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Subject"] == subject


async def test_replies_go_to_the_program_contact(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer()
    contact = ProgramContact.parse("Olu Operator <programs@acme.example>")
    n = notification()
    message = OutgoingMessage(
        notification=n, recipient=MENTEE, rendered=render(n, MENTEE, contact), contact=contact
    )

    await SmtpChannel(smtp_config(port)).send(message)

    sent = mailbox.messages[0]
    assert sent["Reply-To"] == "Olu Operator <programs@acme.example>"
    text = sent.get_body(("plain",)).get_content()
    assert "reply to this email: it reaches Olu Operator <programs@acme.example>" in text
    assert "— Olu Operator, Acme Mentoring" in text


async def test_starttls_with_login_delivers_over_a_verified_connection(
    smtp_peer: SmtpPeer, tls: Tls
) -> None:
    mailbox = Mailbox()
    _, port = smtp_peer(
        mailbox,
        tls_context=tls.server_context(),
        require_starttls=True,
        authenticator=mailbox.authenticator,
        auth_required=True,
    )
    config = smtp_config(
        port,
        security="starttls",
        ca_file=tls.cert,
        username="mentorflow",
        password=SecretStr("s3cret-pw"),
    )

    await SmtpChannel(config).send(outgoing(notification(), MENTEE))

    assert mailbox.logins == ["mentorflow"]
    assert len(mailbox.messages) == 1


async def test_implicit_tls_delivers(smtp_peer: SmtpPeer, tls: Tls) -> None:
    mailbox, port = smtp_peer(ssl_context=tls.server_context())
    config = smtp_config(port, security="ssl", ca_file=tls.cert)

    await SmtpChannel(config).send(outgoing(notification(), MENTEE))

    assert len(mailbox.messages) == 1


async def test_wrong_password_is_permanent_and_not_echoed(smtp_peer: SmtpPeer, tls: Tls) -> None:
    mailbox = Mailbox()
    _, port = smtp_peer(
        mailbox,
        tls_context=tls.server_context(),
        authenticator=mailbox.authenticator,
        auth_required=True,
    )
    config = smtp_config(
        port,
        security="starttls",
        ca_file=tls.cert,
        username="mentorflow",
        password=SecretStr("wrong-pw-123"),
    )

    with pytest.raises(PermanentDeliveryError, match="username and password") as raised:
        await SmtpChannel(config).send(outgoing(notification(), MENTEE))
    assert "wrong-pw-123" not in str(raised.value)
    assert mailbox.messages == []


async def test_an_untrusted_certificate_is_permanent(smtp_peer: SmtpPeer, tls: Tls) -> None:
    _, port = smtp_peer(tls_context=tls.server_context())

    with pytest.raises(PermanentDeliveryError, match="ca_file"):
        await SmtpChannel(smtp_config(port, security="starttls")).send(
            outgoing(notification(), MENTEE)
        )


async def test_starttls_against_a_plain_server_is_permanent(smtp_peer: SmtpPeer) -> None:
    _, port = smtp_peer()

    with pytest.raises(PermanentDeliveryError, match="security"):
        await SmtpChannel(smtp_config(port, security="starttls")).send(
            outgoing(notification(), MENTEE)
        )


async def test_smtp_4xx_is_temporary(smtp_peer: SmtpPeer) -> None:
    _, port = smtp_peer(Mailbox(tempfail_first=1))

    with pytest.raises(TemporaryDeliveryError, match="451"):
        await SmtpChannel(smtp_config(port)).send(outgoing(notification(), MENTEE))


async def test_unknown_mailbox_is_permanent(smtp_peer: SmtpPeer) -> None:
    mailbox, port = smtp_peer(Mailbox(reject={"bo@example.org"}))

    with pytest.raises(PermanentDeliveryError, match=r"bo@example.org: 550") as raised:
        await SmtpChannel(smtp_config(port)).send(outgoing(notification(), MENTEE))
    assert "email address" in str(raised.value)
    assert mailbox.messages == []


async def test_refused_connection_is_temporary() -> None:
    config = smtp_config(free_port())  # nothing listens there

    with pytest.raises(TemporaryDeliveryError, match="cannot reach SMTP server"):
        await SmtpChannel(config).send(outgoing(notification(), MENTEE))


async def test_a_relay_that_never_greets_is_temporary() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts at the kernel, never says 220
        config = smtp_config(silent.getsockname()[1], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(TemporaryDeliveryError):
            await SmtpChannel(config).send(outgoing(notification(), MENTEE))
    assert time.monotonic() - started < 3


# ============================================================================== webhook


def webhook_config(**overrides: Any) -> WebhookConfig:
    fields: dict[str, Any] = {"secret": SecretStr(SECRET), "timeout": 2}
    fields.update(overrides)
    return WebhookConfig(**fields)


async def test_webhook_posts_signed_json_that_slack_can_read(
    http_peer: Callable[..., WebhookReceiver],
) -> None:
    receiver = http_peer()
    bo = Recipient(role=Role.MENTEE, person=hooked(BO, receiver.url("/hooks/bo")))
    n = notification(recipients=(MENTOR, bo), invite=meeting_invite(sequence=1))

    await WebhookChannel(webhook_config()).send(outgoing(n, bo))

    [hit] = receiver.hits
    assert hit.signature_ok and hit.path == "/hooks/bo"
    assert abs(int(hit.headers["X-Mentorflow-Timestamp"]) - time.time()) < 60
    assert hit.headers["Content-Type"].startswith("application/json")
    payload = hit.json()
    assert payload["key"] == n.key and payload["kind"] == "meeting_reminder"
    assert payload["relationship_id"] == "rel-ana-bo" and payload["program"] == "Acme Mentoring"
    assert payload["recipient"] == {
        "role": "mentee",
        "id": "bo",
        "name": "Bo Mentee",
        "email": "bo@example.org",
    }
    rendered = render(n, bo)
    assert payload["subject"] == rendered.subject
    assert payload["body"] == rendered.text
    assert payload["text"].startswith(f"*{rendered.subject}*\n\n")
    assert payload["context"]["meeting_number"] == 3
    assert payload["invite"]["uid"] == "rel-ana-bo-meeting-3@mentorflow"
    assert payload["invite"]["sequence"] == 1


async def test_webhook_idempotency_key_is_stable_across_retries(
    http_peer: Callable[..., WebhookReceiver],
) -> None:
    receiver = http_peer()
    channel = WebhookChannel(webhook_config(default_url=receiver.url()))
    n = notification()

    await channel.send(outgoing(n, MENTEE))
    await channel.send(outgoing(n, MENTEE))
    await channel.send(outgoing(n, MENTOR))

    keys = [hit.headers["Idempotency-Key"] for hit in receiver.hits]
    assert keys[0] == keys[1] != keys[2]


async def test_webhook_uses_the_program_default_url_for_people_without_one(
    http_peer: Callable[..., WebhookReceiver],
) -> None:
    receiver = http_peer()

    await WebhookChannel(webhook_config(default_url=receiver.url("/program"))).send(
        outgoing(notification(), MENTEE)
    )

    assert [hit.path for hit in receiver.hits] == ["/program"]


async def test_webhook_without_any_url_is_permanent() -> None:
    with pytest.raises(PermanentDeliveryError, match="no webhook_url"):
        await WebhookChannel(webhook_config()).send(outgoing(notification(), MENTEE))


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
async def test_webhook_server_trouble_is_temporary(
    http_peer: Callable[..., WebhookReceiver], status: int
) -> None:
    receiver = http_peer(script=[status])
    channel = WebhookChannel(webhook_config(default_url=receiver.url()))

    with pytest.raises(TemporaryDeliveryError, match=str(status)) as raised:
        await channel.send(outgoing(notification(), MENTEE))
    assert raised.value.retry_after == (7 if status == 429 else None)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
async def test_webhook_refusal_is_permanent(
    http_peer: Callable[..., WebhookReceiver], status: int
) -> None:
    receiver = http_peer(script=[status])
    channel = WebhookChannel(webhook_config(default_url=receiver.url()))

    with pytest.raises(PermanentDeliveryError, match=str(status)):
        await channel.send(outgoing(notification(), MENTEE))


async def test_a_receiver_with_another_secret_refuses_permanently(
    http_peer: Callable[..., WebhookReceiver],
) -> None:
    receiver = http_peer(secret="someone-elses-secret")
    channel = WebhookChannel(webhook_config(default_url=receiver.url()))

    with pytest.raises(PermanentDeliveryError, match="same webhook secret"):
        await channel.send(outgoing(notification(), MENTEE))
    assert [hit.signature_ok for hit in receiver.hits] == [False]


async def test_a_slow_receiver_is_temporary(http_peer: Callable[..., WebhookReceiver]) -> None:
    receiver = http_peer(delay=1.0)
    channel = WebhookChannel(webhook_config(default_url=receiver.url(), timeout=0.2))

    with pytest.raises(TemporaryDeliveryError, match="did not answer in time"):
        await channel.send(outgoing(notification(), MENTEE))


async def test_an_unreachable_receiver_is_temporary() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"

    with pytest.raises(TemporaryDeliveryError, match="cannot reach"):
        await WebhookChannel(webhook_config(default_url=url)).send(outgoing(notification(), MENTEE))


async def test_webhook_errors_do_not_leak_the_token_in_the_url(
    http_peer: Callable[..., WebhookReceiver],
) -> None:
    receiver = http_peer(script=[404])
    url = receiver.url("/services/T04MENTOR/B07FLOW/secretpathtoken42")

    with pytest.raises(PermanentDeliveryError) as raised:
        await WebhookChannel(webhook_config(default_url=url)).send(outgoing(notification(), MENTEE))
    assert "secretpathtoken42" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)


# ============================================================================== config


def test_secrets_stay_out_of_reprs() -> None:
    smtp = smtp_config(25, username="u", password=SecretStr("smtp-pass-42"))
    hook = webhook_config(default_url="https://hooks.example.org/T0/B0/tok-42")
    config = ChannelsConfig(outbox_path=Path("o.jsonl"), smtp=smtp, webhook=hook)

    shown = repr(config) + str(config) + repr(smtp) + repr(hook)
    for secret in ("smtp-pass-42", SECRET, "tok-42"):
        assert secret not in shown


def test_a_fallback_that_is_not_configured_is_refused_with_a_fix() -> None:
    with pytest.raises(ValidationError, match="fallback channel 'email' is not configured"):
        ChannelsConfig(outbox_path=Path("o.jsonl"), fallback=ChannelName.EMAIL)


def test_smtp_sender_must_be_an_address() -> None:
    with pytest.raises(ValidationError, match="not an address"):
        smtp_config(25, sender="Acme Mentoring")
