"""Ways to reach people, and the one distinction delivery depends on: try again, or give up.

Every failure leaves a channel as either `TemporaryDeliveryError` (the peer may take the same
message later: retry with backoff) or `PermanentDeliveryError` (retrying cannot help: tell a
person). Nothing is swallowed; the original exception rides along as `__cause__`.

Every send also has a hard deadline (`send_deadline`): past it the connection is cut, so
nothing of that attempt can reach the peer afterwards. Delivery leases its claim on a
(notification, recipient) for longer than that, which is what lets a later attempt know the
earlier one is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import smtplib
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_core import to_jsonable_python

from activities.contacts import ProgramContact, ProgramContacts
from activities.mail_policy import EIGHT_BIT, SEVEN_BIT
from activities.rendering import RenderedMessage, build_invite
from mentorship.notifications import MeetingInvite, Notification, Recipient
from mentorship.participants import Channel as ChannelName
from mentorship.participants import Participant, Role

log = structlog.get_logger()

SIGNATURE_HEADER = "X-Mentorflow-Signature"
TIMESTAMP_HEADER = "X-Mentorflow-Timestamp"
_MAX_DETAIL = 300
# An outbox line is a local append; this only bounds how long its claim is leased.
OUTBOX_SEND_DEADLINE = 30.0


# ---------------------------------------------------------------------------------- errors


class DeliveryError(Exception):
    """Either outcome, so callers can catch 'delivery went wrong' in one place."""


class TemporaryDeliveryError(DeliveryError):
    """The peer may accept the same message later; `retry_after` echoes its hint, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Sending the same message again cannot succeed; someone has to fix an address or config."""


# ---------------------------------------------------------------------------------- config


class SmtpConfig(BaseModel):
    """How to reach the mail relay. `ca_file` trusts a private relay's certificate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(description="From header, e.g. 'Mentoring <mentoring@example.org>'")
    # How long to wait for any one reply of the relay.
    timeout: float = Field(default=10.0, gt=0)
    # The whole send, connect to the reply to DATA; past it the connection is cut. Default:
    # twice `timeout`.
    deadline: float | None = Field(default=None, gt=0)
    ca_file: Path | None = None

    @property
    def send_deadline(self) -> float:
        return self.deadline if self.deadline is not None else 2 * self.timeout

    @field_validator("sender")
    @classmethod
    def _sender_is_an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError(
                f"smtp.sender '{value}' is not an address; use 'Name <mentoring@example.org>'"
            )
        return value

    @model_validator(mode="after")
    def _credentials_come_in_pairs(self) -> SmtpConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp.username and smtp.password go together; set both or neither")
        return self


class WebhookConfig(BaseModel):
    """Shared secret for signatures, and where to post for people without their own URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Webhook URLs (Slack's, for one) carry a token in the path: keep them out of reprs.
    default_url: str | None = Field(default=None, repr=False)
    secret: SecretStr
    # How long to wait to connect, to write, and for the answer.
    timeout: float = Field(default=10.0, gt=0)
    # The whole request; past it the request is cut. Default: twice `timeout`.
    deadline: float | None = Field(default=None, gt=0)

    @property
    def send_deadline(self) -> float:
        return self.deadline if self.deadline is not None else 2 * self.timeout

    @field_validator("default_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("webhook.default_url must start with http:// or https://")
        return value

    @field_validator("secret")
    @classmethod
    def _secret_is_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("webhook.secret is empty; receivers need it to verify signatures")
        return value


class ChannelsConfig(BaseModel):
    """Which channels the program runs; the outbox always works, so it is the usual fallback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outbox_path: Path
    smtp: SmtpConfig | None = None
    webhook: WebhookConfig | None = None
    fallback: ChannelName = ChannelName.OUTBOX
    contacts: ProgramContacts = ProgramContacts()

    @model_validator(mode="after")
    def _fallback_is_configured(self) -> ChannelsConfig:
        if self.fallback not in self.configured():
            raise ValueError(
                f"fallback channel '{self.fallback.value}' is not configured; "
                "configure it or use fallback 'outbox'"
            )
        return self

    def configured(self) -> frozenset[ChannelName]:
        names = {ChannelName.OUTBOX}
        if self.smtp is not None:
            names.add(ChannelName.EMAIL)
        if self.webhook is not None:
            names.add(ChannelName.WEBHOOK)
        return frozenset(names)


# ---------------------------------------------------------------------------------- message


def recipient_ref(recipient: Recipient) -> str:
    """'mentee:bo': role-qualified, so one person in two roles gets two deliveries."""
    return f"{recipient.role.value}:{recipient.person.id}"


def dedupe_id(key: str, recipient: Recipient) -> str:
    """Same notification, same person -> same id, on every retry, so receivers can dedupe."""
    raw = f"{key}\x00{recipient_ref(recipient)}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


class OutgoingMessage(BaseModel):
    """One recipient's rendered copy of a notification: what every channel sends."""

    model_config = ConfigDict(frozen=True)

    notification: Notification
    recipient: Recipient
    rendered: RenderedMessage
    contact: ProgramContact | None = None  # Reply-To: who reads the answers

    @property
    def recipient_ref(self) -> str:
        return recipient_ref(self.recipient)

    @property
    def dedupe_id(self) -> str:
        return dedupe_id(self.notification.key, self.recipient)


class Channel(Protocol):
    """Send one message or raise Temporary/PermanentDeliveryError; never fail silently.

    `send_deadline`: the longest one send may take; after it, nothing of it reaches the peer.
    """

    @property
    def send_deadline(self) -> float: ...

    async def send(self, message: OutgoingMessage) -> None: ...


# ---------------------------------------------------------------------------------- outbox


class OutboxChannel:
    """Appends one JSON line per (notification key, recipient) to a file.

    Line fields: key, kind, relationship_id, program, recipient_role, recipient_id,
    recipient_name, recipient_email, subject, text, has_invite, sent_at (ISO 8601, UTC).
    A line already present for the same key and recipient is not written again, even by
    another process (flock): a worker that crashed between writing the line and recording
    the delivery must not duplicate it on retry.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()
        self._offset = 0

    @property
    def send_deadline(self) -> float:
        return OUTBOX_SEND_DEADLINE

    async def send(self, message: OutgoingMessage) -> None:
        line = json.dumps(_outbox_record(message), ensure_ascii=False) + "\n"
        identity = (message.notification.key, message.recipient_ref)
        try:
            written = await asyncio.to_thread(self._append_once, identity, line.encode())
        except OSError as exc:
            raise _outbox_error(exc, self.path) from exc
        if not written:
            log.debug("outbox.already_written", notification_key=identity[0], to=identity[1])

    def _append_once(self, identity: tuple[str, str], line: bytes) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            ends_cleanly = self._catch_up(handle)
            if identity in self._seen:
                return False
            handle.write(line if ends_cleanly else b"\n" + line)
            handle.flush()
            os.fsync(handle.fileno())
            self._offset = handle.tell()
            self._seen.add(identity)
            return True

    def _catch_up(self, handle: IO[bytes]) -> bool:
        """Learn lines other writers appended since we last looked; report a torn last line."""
        size = os.fstat(handle.fileno()).st_size
        if size < self._offset:  # truncated or replaced: start over
            self._seen.clear()
            self._offset = 0
        handle.seek(self._offset)
        data = handle.read()
        complete, _, _torn = data.rpartition(b"\n")
        for raw in complete.splitlines():
            identity = _outbox_identity(raw)
            if identity is not None:
                self._seen.add(identity)
        self._offset = size
        return not data or data.endswith(b"\n")


def _outbox_record(message: OutgoingMessage) -> dict[str, Any]:
    n, person = message.notification, message.recipient.person
    return {
        "key": n.key,
        "kind": n.kind.value,
        "relationship_id": n.relationship_id,
        "program": n.program,
        "recipient_role": message.recipient.role.value,
        "recipient_id": person.id,
        "recipient_name": person.name,
        "recipient_email": person.email,
        "subject": message.rendered.subject,
        "text": message.rendered.text,
        "has_invite": n.invite is not None,
        "sent_at": datetime.now(UTC).isoformat(),
    }


def _outbox_identity(raw: bytes) -> tuple[str, str] | None:
    """A torn or foreign line is not ours to judge; it just cannot mark anything as sent."""
    try:
        record = json.loads(raw)
        return str(record["key"]), f"{record['recipient_role']}:{record['recipient_id']}"
    except (ValueError, KeyError, TypeError):
        return None


def _outbox_error(exc: OSError, path: Path) -> DeliveryError:
    detail = f"cannot write the outbox at {path}: {exc.strerror or exc}"
    if isinstance(exc, PermissionError | IsADirectoryError | NotADirectoryError):
        return PermanentDeliveryError(detail + "; check outbox_path and its permissions")
    return TemporaryDeliveryError(detail)


# ---------------------------------------------------------------------------------- email


class SmtpChannel:
    """Email through a relay: multipart text + html, plus a calendar invite for meetings."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._envelope_sender = parseaddr(config.sender)[1]
        self._where = f"SMTP server {config.host}:{config.port}"

    @property
    def send_deadline(self) -> float:
        return self.config.send_deadline

    async def send(self, message: OutgoingMessage) -> None:
        """smtplib blocks, so it runs in a thread, which cannot be cancelled: whoever stops
        awaiting this leaves the thread sending. The watchdog is what bounds it."""
        await asyncio.to_thread(self._transmit, message)

    def compose(self, message: OutgoingMessage, eight_bit: bool = True) -> EmailMessage:
        """Build the mail; the Message-ID is derived from key + recipient so a retry that
        slips past the ledger still looks like the same message to the receiving side.

        `eight_bit`: the relay offered 8BITMIME; without it every part is 7-bit clean."""
        n, person = message.notification, message.recipient.person
        email = EmailMessage(policy=EIGHT_BIT if eight_bit else SEVEN_BIT)
        email["From"] = self.config.sender
        email["To"] = formataddr((" ".join(person.name.split()), person.email))
        if message.contact is not None:
            email["Reply-To"] = message.contact.header()
        email["Subject"] = message.rendered.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{message.dedupe_id}@{self._domain()}>"
        email["Auto-Submitted"] = "auto-generated"
        email["X-Mentorflow-Key"] = n.key
        email["X-Mentorflow-Kind"] = n.kind.value
        email["X-Mentorflow-Relationship"] = n.relationship_id
        email.set_content(message.rendered.text)
        email.add_alternative(message.rendered.html, subtype="html")
        if n.invite is not None:
            self._attach_invite(email, n.invite, _attendees(message))
        return email

    def _attach_invite(
        self, email: EmailMessage, invite: MeetingInvite, attendees: list[Participant]
    ) -> None:
        """Inline text/calendar is what makes clients offer accept/decline; the .ics
        attachment is for everyone else (the shape Google Calendar itself sends)."""
        ics = build_invite(invite, self.config.sender, attendees)
        method = "CANCEL" if invite.cancelled else "REQUEST"
        email.add_alternative(ics.decode(), subtype="calendar", params={"method": method})
        email.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")

    def _domain(self) -> str:
        return self._envelope_sender.rpartition("@")[2] or "mentorflow.invalid"

    def _transmit(self, message: OutgoingMessage) -> None:
        watchdog = _Watchdog(self.config.send_deadline)
        client: smtplib.SMTP | None = None
        try:
            client = self._open()
            watchdog.watch(client)
            self._secure(client)
            self._login(client)
            client.ehlo_or_helo_if_needed()
            eight_bit = client.has_extn("8bitmime")
            client.send_message(
                self.compose(message, eight_bit),
                from_addr=self._envelope_sender,
                to_addrs=[message.recipient.person.email],
                mail_options=["BODY=8BITMIME"] if eight_bit else [],
            )
        except (smtplib.SMTPException, OSError) as exc:
            if watchdog.fired:
                raise TemporaryDeliveryError(
                    f"{self._where} did not finish within {self.config.send_deadline:g} s; "
                    "the connection was cut, nothing more was sent"
                ) from exc
            raise classify_smtp_error(exc, self._where) from exc
        finally:
            watchdog.stop()
            if client is not None:
                _close(client)

    def _open(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.security == "ssl":
            return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=self._tls())
        return smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)

    def _secure(self, client: smtplib.SMTP) -> None:
        if self.config.security == "starttls":
            client.starttls(context=self._tls())

    def _login(self, client: smtplib.SMTP) -> None:
        cfg = self.config
        if cfg.username is not None and cfg.password is not None:
            client.login(cfg.username, cfg.password.get_secret_value())

    def _tls(self) -> ssl.SSLContext:
        cafile = str(self.config.ca_file) if self.config.ca_file else None
        return ssl.create_default_context(cafile=cafile)


def _attendees(message: OutgoingMessage) -> list[Participant]:
    """The meeting's parties: mentor and mentee among the recipients, at least this one."""
    people = [
        r.person for r in message.notification.recipients if r.role in (Role.MENTOR, Role.MENTEE)
    ]
    if message.recipient.person not in people:
        people.append(message.recipient.person)
    return people


def _close(client: smtplib.SMTP) -> None:
    """The relay accepted or refused the message at DATA; a failed QUIT changes neither,
    and reporting it would make a retry send an accepted message twice."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class _Watchdog:
    """Cuts an SMTP connection that outlives the send deadline.

    A thread blocked in a socket call cannot be cancelled, but shutting its socket down
    wakes it with an error, and nothing more can be written on it: after the deadline the
    attempt is over, whatever the relay does. Connecting and the greeting (each bounded by
    the timeout) send nothing of the message; a deadline that passed meanwhile cuts the
    connection the moment the watchdog gets hold of it.
    """

    def __init__(self, seconds: float) -> None:
        self._client: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, client: smtplib.SMTP) -> None:
        with self._lock:
            self._client = client
            if self.fired:
                self._cut()

    def stop(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        sock = self._client.sock if self._client is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to cut
                sock.shutdown(socket.SHUT_RDWR)


def classify_smtp_error(exc: BaseException, where: str) -> DeliveryError:
    """4xx and network trouble are worth retrying; 5xx and misconfiguration are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _recipients_refused(exc, where)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentDeliveryError(
            f"{where} does not support what smtp.security asks for ({_short(exc)}); "
            "set security to 'ssl' or 'none' to match the server"
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError) and exc.smtp_code >= 500:
        return PermanentDeliveryError(
            f"{where} rejected the login ({exc.smtp_code}); check smtp.username and password"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_reply_code(exc.smtp_code, f"{where} replied {exc.smtp_code} {_reply(exc)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TemporaryDeliveryError(f"{where} closed the connection: {_short(exc)}")
    if isinstance(exc, smtplib.SMTPException):
        return PermanentDeliveryError(f"{where}: {_short(exc)}; check the smtp settings")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"{where} presented a certificate we do not trust ({exc.verify_message}); "
            "set smtp.ca_file to the relay's CA"
        )
    return TemporaryDeliveryError(f"cannot reach {where}: {_short(exc)}")


def _recipients_refused(exc: smtplib.SMTPRecipientsRefused, where: str) -> DeliveryError:
    refusals = [
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in exc.recipients.items()
    ]
    detail = f"{where} refused the recipient ({'; '.join(refusals)})"
    if any(code >= 500 for code, _ in exc.recipients.values()):
        return PermanentDeliveryError(detail + "; check the participant's email address")
    return TemporaryDeliveryError(detail, retry_after=smtp_retry_hint(detail))


def _by_reply_code(code: int, detail: str) -> DeliveryError:
    if 500 <= code < 600:
        return PermanentDeliveryError(detail)
    return TemporaryDeliveryError(detail, retry_after=smtp_retry_hint(detail))


# SMTP has no Retry-After; relays that greylist or throttle say it in words:
# "try again in 5 minutes", "Greylisted for 300 seconds", "Retry-After: 120".
_SMTP_HINTS = (
    re.compile(r"retry-after:?\s*(\d+)()", re.IGNORECASE),
    re.compile(
        r"(?:try again|retry|come back|greylisted for)\s+(?:in\s+|after\s+)?(\d+)\s*"
        r"(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b",
        re.IGNORECASE,
    ),
)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def smtp_retry_hint(reply: str) -> float | None:
    """The wait a 4xx reply asks for, in seconds, if it names one."""
    for pattern in _SMTP_HINTS:
        found = pattern.search(reply)
        if found:
            return float(found.group(1)) * _UNIT_SECONDS[found.group(2)[:1].lower()]
    return None


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return _text(exc.smtp_error)


def _text(reply: bytes | str) -> str:
    raw = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return " ".join(raw.split())[:_MAX_DETAIL]


def _short(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:_MAX_DETAIL]


# ---------------------------------------------------------------------------------- webhook


class WebhookChannel:
    """Signed JSON over HTTP POST; also readable as a Slack incoming-webhook message.

    Body: key, kind, relationship_id, program, recipient {role, id, name, email}, subject,
    text (Slack mrkdwn: bold subject, blank line, escaped body), body (plain text), context,
    invite (uid, sequence, start, end, cancelled) or null. Headers: X-Mentorflow-Signature
    `sha256=<hex HMAC-SHA256 of the raw body>`, X-Mentorflow-Timestamp (unix seconds), and
    Idempotency-Key (stable per notification and recipient).
    """

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    @property
    def send_deadline(self) -> float:
        return self.config.send_deadline

    async def send(self, message: OutgoingMessage) -> None:
        url = self.url_for(message.recipient)
        body = encode_payload(webhook_payload(message))
        where = f"webhook at {_redact(url)}"
        deadline = self.config.send_deadline
        try:
            # Cancelling an httpx request closes its connection: past the deadline the
            # receiver gets nothing more of this attempt.
            async with (
                asyncio.timeout(deadline),
                httpx.AsyncClient(timeout=self.config.timeout) as client,
            ):
                headers = self._headers(body, message)
                response = await client.post(url, content=body, headers=headers)
        except TimeoutError as exc:
            raise TemporaryDeliveryError(
                f"{where} did not answer in time (not within {deadline:g} s); the request was cut"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise classify_http_error(exc, where) from exc
        check_response(response, where)

    def url_for(self, recipient: Recipient) -> str:
        if recipient.person.webhook_url is not None:
            return str(recipient.person.webhook_url)
        if self.config.default_url:
            return self.config.default_url
        raise PermanentDeliveryError(
            f"{recipient_ref(recipient)} has no webhook_url and the program has no default "
            "webhook URL; add one of them"
        )

    def _headers(self, body: bytes, message: OutgoingMessage) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "mentorflow",
            SIGNATURE_HEADER: sign(body, self.config.secret),
            TIMESTAMP_HEADER: str(int(time.time())),
            "Idempotency-Key": message.dedupe_id,
        }


def sign(body: bytes, secret: SecretStr) -> str:
    digest = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, header: str, secret: SecretStr) -> bool:
    """For receivers: constant-time check of X-Mentorflow-Signature against the raw body."""
    return hmac.compare_digest(sign(body, secret), header)


def webhook_payload(message: OutgoingMessage) -> dict[str, Any]:
    n, person = message.notification, message.recipient.person
    return {
        "key": n.key,
        "kind": n.kind.value,
        "relationship_id": n.relationship_id,
        "program": n.program,
        "recipient": {
            "role": message.recipient.role.value,
            "id": person.id,
            "name": person.name,
            "email": person.email,
        },
        "subject": message.rendered.subject,
        "text": slack_text(message.rendered),
        "body": message.rendered.text,
        "context": to_jsonable_python(n.context, fallback=str),
        "invite": _invite_summary(n.invite),
        "reply_to": message.contact.model_dump() if message.contact else None,
    }


def encode_payload(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def slack_text(rendered: RenderedMessage) -> str:
    """Slack reads `text` as mrkdwn, where &, < and > are control characters."""
    return f"*{_slack_escape(rendered.subject)}*\n\n{_slack_escape(rendered.text)}"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _invite_summary(invite: MeetingInvite | None) -> dict[str, Any] | None:
    if invite is None:
        return None
    return {
        "uid": invite.uid,
        "sequence": invite.sequence,
        "start": invite.start.isoformat(),
        "end": (invite.start + invite.duration).isoformat(),
        "cancelled": invite.cancelled,
        "location": invite.location,
        "url": invite.url or None,
    }


def check_response(response: httpx.Response, where: str) -> None:
    """Overload (429), a slow peer (408) and server errors pass; other refusals will not."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = f"{where} answered {status} {response.reason_phrase}".rstrip()
    if status in (408, 429) or status >= 500:
        raise TemporaryDeliveryError(detail, retry_after=_retry_after(response))
    raise PermanentDeliveryError(f"{detail}; {_http_hint(status)}")


def _http_hint(status: int) -> str:
    if status in (401, 403):
        return "check that the receiver uses the same webhook secret"
    if status in (404, 410) or 300 <= status < 400:
        return "check the webhook URL"
    return "the receiver rejected the message; check its logs"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def classify_http_error(exc: Exception, where: str) -> DeliveryError:
    """A URL we cannot use will never work; a network that misbehaves may recover."""
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return PermanentDeliveryError(f"{where} is not a usable URL ({_short(exc)})")
    if isinstance(exc, httpx.TimeoutException):
        return TemporaryDeliveryError(f"{where} did not answer in time ({type(exc).__name__})")
    return TemporaryDeliveryError(f"cannot reach {where}: {_short(exc)}")


def _redact(url: str) -> str:
    """Scheme and host only: webhook paths and query strings often carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"
