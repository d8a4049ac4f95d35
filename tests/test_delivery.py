"""The Deliverer: each person gets each notification once, across retries and replays."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from activities.channels import (
    ChannelsConfig,
    PermanentDeliveryError,
    SmtpConfig,
    TemporaryDeliveryError,
    WebhookConfig,
)
from activities.delivery import Deliverer, DeliveryReport, Outcome
from mentorship.notifications import Notification, NotificationKind, Recipient
from mentorship.participants import Channel as ChannelName
from mentorship.participants import Participant, Role
from tests.test_channels import (
    BASE,
    FULL,
    SECRET,
    Mailbox,
    SmtpPeer,
    WebhookReceiver,
    free_port,
    meeting_invite,
)
from tests.test_channels import http_peer as http_peer  # fixture
from tests.test_channels import smtp_peer as smtp_peer  # fixture

SMTP_PASSWORD = "smtp-pass-never-logged"


@dataclass
class MemoryDeliveryLog:
    """The ledger's delivery table, in a dict: 'delivered' is final, like the real one."""

    status: dict[tuple[str, str], str] = field(default_factory=dict)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def delivery_status(self, key: str, recipient: str) -> str | None:
        return self.status.get((key, recipient))

    def record_delivery(
        self, key: str, recipient: str, channel: str, status: str, detail: str = ""
    ) -> None:
        self.rows.append((key, recipient, channel, status, detail))
        if self.status.get((key, recipient)) != "delivered":
            self.status[(key, recipient)] = status


def person(pid: str, name: str, **extra: Any) -> Participant:
    return Participant(id=pid, name=name, email=f"{pid}@example.org", **extra)


def recipient(role: Role, who: Participant) -> Recipient:
    return Recipient(role=role, person=who)


def reminder(*recipients: Recipient, key: str = "rel-1:meeting-2:reminder-0") -> Notification:
    return Notification(
        key=key,
        kind=NotificationKind.MEETING_REMINDER,
        relationship_id="rel-1",
        program="Acme Mentoring",
        recipients=recipients,
        context={**BASE, **FULL[NotificationKind.MEETING_REMINDER]},
        invite=meeting_invite(),
    )


@pytest.fixture
def ledger() -> MemoryDeliveryLog:
    return MemoryDeliveryLog()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox.jsonl"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def config(outbox: Path, *, smtp_port: int | None = None, webhook: bool = False) -> ChannelsConfig:
    smtp = None
    if smtp_port is not None:
        smtp = SmtpConfig(
            host="127.0.0.1",
            port=smtp_port,
            security="none",
            sender="Acme Mentoring <mentoring@acme.example>",
            timeout=5,
        )
    hook = WebhookConfig(secret=SecretStr(SECRET), timeout=2) if webhook else None
    return ChannelsConfig(outbox_path=outbox, smtp=smtp, webhook=hook)


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


# ------------------------------------------------------------------------------ outbox


async def test_both_parties_get_it_once_however_often_the_activity_runs(
    outbox: Path, ledger: MemoryDeliveryLog
) -> None:
    ana, bo = person("ana", "Ana Mentor"), person("bo", "Bo Mentee")
    n = reminder(recipient(Role.MENTOR, ana), recipient(Role.MENTEE, bo))
    deliverer = Deliverer(config(outbox), ledger)

    first = await deliverer.deliver(n)
    again = await deliverer.deliver(n)
    replayed = await Deliverer(config(outbox), ledger).deliver(n)  # a fresh worker

    assert [o.outcome for o in first.outcomes] == [Outcome.DELIVERED, Outcome.DELIVERED]
    for report in (again, replayed):
        assert {o.outcome for o in report.outcomes} == {Outcome.SKIPPED_ALREADY_DELIVERED}
    assert [(x["recipient_id"], x["key"]) for x in lines(outbox)] == [("ana", n.key), ("bo", n.key)]
    assert ledger.rows == [
        (n.key, "mentor:ana", "outbox", "delivered", ""),
        (n.key, "mentee:bo", "outbox", "delivered", ""),
    ]


async def test_a_preferred_channel_the_program_lacks_falls_back_to_the_outbox(
    outbox: Path, ledger: MemoryDeliveryLog
) -> None:
    by_mail = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    deliverer = Deliverer(config(outbox), ledger)  # no SMTP configured

    report = await deliverer.deliver(reminder(recipient(Role.MENTEE, by_mail)))

    assert deliverer.channel_for(recipient(Role.MENTEE, by_mail)) is ChannelName.OUTBOX
    assert report.outcomes[0].channel == "outbox"
    assert [x["recipient_email"] for x in lines(outbox)] == ["bo@example.org"]


# ------------------------------------------------------------------------------ email


async def test_a_busy_mail_server_is_retried_and_each_person_mailed_exactly_once(
    outbox: Path, ledger: MemoryDeliveryLog, smtp_peer: SmtpPeer
) -> None:
    mailbox, port = smtp_peer(Mailbox(tempfail_first=1))  # 451 for the first DATA only
    ana = person("ana", "Ana Mentor", channel=ChannelName.EMAIL)
    bo = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    n = reminder(recipient(Role.MENTOR, ana), recipient(Role.MENTEE, bo))
    deliverer = Deliverer(config(outbox, smtp_port=port), ledger)

    with pytest.raises(TemporaryDeliveryError, match=r"mentor:ana via email: .*451"):
        await deliverer.deliver(n)
    assert ledger.delivery_status(n.key, "mentor:ana") is None
    assert ledger.delivery_status(n.key, "mentee:bo") == "delivered"

    retry = await deliverer.deliver(n)
    assert retry.outcome_for("mentor:ana") is Outcome.DELIVERED
    assert retry.outcome_for("mentee:bo") is Outcome.SKIPPED_ALREADY_DELIVERED

    await deliverer.deliver(n)  # a replay after success sends nothing
    assert len(mailbox.to("ana@example.org")) == 1
    assert len(mailbox.to("bo@example.org")) == 1
    assert mailbox.attempts == 3
    assert lines(outbox) == []


async def test_repeated_4xx_keeps_retrying_until_the_server_accepts(
    outbox: Path, ledger: MemoryDeliveryLog, smtp_peer: SmtpPeer
) -> None:
    mailbox, port = smtp_peer(Mailbox(tempfail_first=2))
    bo = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    n = reminder(recipient(Role.MENTEE, bo))
    deliverer = Deliverer(config(outbox, smtp_port=port), ledger)

    for _ in range(2):
        with pytest.raises(TemporaryDeliveryError):
            await deliverer.deliver(n)
    report = await deliverer.deliver(n)

    assert report.outcome_for("mentee:bo") is Outcome.DELIVERED
    assert len(mailbox.messages) == 1
    assert mailbox.attempts == 3


async def test_an_unknown_mailbox_fails_permanently_after_the_others_are_served(
    outbox: Path, ledger: MemoryDeliveryLog, smtp_peer: SmtpPeer
) -> None:
    mailbox, port = smtp_peer(Mailbox(reject={"bo@example.org"}))
    ana = person("ana", "Ana Mentor", channel=ChannelName.EMAIL)
    bo = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    n = reminder(recipient(Role.MENTEE, bo), recipient(Role.MENTOR, ana))
    deliverer = Deliverer(config(outbox, smtp_port=port), ledger)

    with pytest.raises(PermanentDeliveryError, match=r"mentee:bo via email: .*550") as raised:
        await deliverer.deliver(n)

    assert "mentor:ana" not in str(raised.value)
    assert isinstance(raised.value.__cause__, PermanentDeliveryError)
    assert ledger.delivery_status(n.key, "mentee:bo") == "failed"
    assert ledger.delivery_status(n.key, "mentor:ana") == "delivered"
    [failed] = [row for row in ledger.rows if row[3] == "failed"]
    assert "550" in failed[4] and failed[2] == "email"
    assert [str(m["To"]) for m in mailbox.messages] == ["Ana Mentor <ana@example.org>"]


async def test_temporary_trouble_wins_over_permanent_so_the_retry_still_happens(
    outbox: Path,
    ledger: MemoryDeliveryLog,
    smtp_peer: SmtpPeer,
    http_peer: Callable[..., WebhookReceiver],
) -> None:
    _, port = smtp_peer(Mailbox(reject={"bo@example.org"}))
    receiver = http_peer(script=[503])
    ana = person("ana", "Ana Mentor", channel=ChannelName.WEBHOOK, webhook_url=receiver.url())
    bo = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    n = reminder(recipient(Role.MENTEE, bo), recipient(Role.MENTOR, ana))
    deliverer = Deliverer(config(outbox, smtp_port=port, webhook=True), ledger)

    with pytest.raises(TemporaryDeliveryError) as raised:
        await deliverer.deliver(n)
    assert "mentee:bo via email" in str(raised.value)
    assert "mentor:ana via webhook" in str(raised.value)
    assert ledger.delivery_status(n.key, "mentee:bo") == "failed"

    with pytest.raises(PermanentDeliveryError, match="mentee:bo"):
        await deliverer.deliver(n)  # webhook recovered; only the dead mailbox is left
    assert ledger.delivery_status(n.key, "mentor:ana") == "delivered"
    assert len(receiver.accepted()) == 1


# ------------------------------------------------------------------------------ webhook


async def test_a_flaky_webhook_is_delivered_once_after_retries(
    outbox: Path, ledger: MemoryDeliveryLog, http_peer: Callable[..., WebhookReceiver]
) -> None:
    receiver = http_peer(script=[500, 500, 200])
    bo = person("bo", "Bo Mentee", channel=ChannelName.WEBHOOK, webhook_url=receiver.url())
    n = reminder(recipient(Role.MENTEE, bo))
    deliverer = Deliverer(config(outbox, webhook=True), ledger)

    for _ in range(2):
        with pytest.raises(TemporaryDeliveryError, match="500"):
            await deliverer.deliver(n)
    delivered = await deliverer.deliver(n)
    replayed = await deliverer.deliver(n)

    assert delivered.outcome_for("mentee:bo") is Outcome.DELIVERED
    assert replayed.outcome_for("mentee:bo") is Outcome.SKIPPED_ALREADY_DELIVERED
    assert [hit.status for hit in receiver.hits] == [500, 500, 200]
    assert all(hit.signature_ok for hit in receiver.hits)
    assert len({hit.headers["Idempotency-Key"] for hit in receiver.hits}) == 1


async def test_a_webhook_that_rejects_the_payload_fails_permanently(
    outbox: Path, ledger: MemoryDeliveryLog, http_peer: Callable[..., WebhookReceiver]
) -> None:
    receiver = http_peer(script=[400])
    bo = person("bo", "Bo Mentee", channel=ChannelName.WEBHOOK, webhook_url=receiver.url())
    n = reminder(recipient(Role.MENTEE, bo))

    with pytest.raises(PermanentDeliveryError, match="400"):
        await Deliverer(config(outbox, webhook=True), ledger).deliver(n)

    assert ledger.delivery_status(n.key, "mentee:bo") == "failed"
    assert ledger.rows[-1][2] == "webhook"


async def test_the_servers_retry_hint_reaches_the_caller(
    outbox: Path, ledger: MemoryDeliveryLog, http_peer: Callable[..., WebhookReceiver]
) -> None:
    receiver = http_peer(script=[429])
    bo = person("bo", "Bo Mentee", channel=ChannelName.WEBHOOK, webhook_url=receiver.url())

    with pytest.raises(TemporaryDeliveryError) as raised:
        await Deliverer(config(outbox, webhook=True), ledger).deliver(
            reminder(recipient(Role.MENTEE, bo))
        )
    assert raised.value.retry_after == 7


# ------------------------------------------------------------------------------ logs


async def test_logs_name_the_relationship_and_key_but_never_secrets_or_bodies(
    outbox: Path,
    ledger: MemoryDeliveryLog,
    smtp_peer: SmtpPeer,
    logs: list[MutableMapping[str, Any]],
) -> None:
    mailbox, port = smtp_peer(Mailbox(reject={"bo@example.org"}))
    cfg = config(outbox, smtp_port=port, webhook=True)
    assert cfg.smtp is not None
    cfg = cfg.model_copy(
        update={"smtp": cfg.smtp.model_copy(update={"password": SecretStr(SMTP_PASSWORD)})}
    )
    ana = person("ana", "Ana Mentor", channel=ChannelName.EMAIL)
    bo = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    n = reminder(recipient(Role.MENTOR, ana), recipient(Role.MENTEE, bo))

    with pytest.raises(PermanentDeliveryError):
        await Deliverer(cfg, ledger).deliver(n)

    events = {entry["event"]: entry for entry in logs}
    assert events["notification.delivered"]["recipient"] == "mentor:ana"
    assert events["notification.failed"]["recipient"] == "mentee:bo"
    for entry in logs:
        assert entry["relationship_id"] == "rel-1"
        assert entry["notification_key"] == n.key
    dumped = json.dumps(logs, default=str)
    for forbidden in (SMTP_PASSWORD, SECRET, "Promotion path", "Feedback on my RFC"):
        assert forbidden not in dumped
    assert len(mailbox.messages) == 1


def test_the_report_answers_per_recipient() -> None:
    report = DeliveryReport(key="k", outcomes=())
    assert report.outcome_for("mentee:bo") is None


async def test_an_unreachable_relay_is_temporary_and_records_nothing(
    outbox: Path, ledger: MemoryDeliveryLog
) -> None:
    bo = person("bo", "Bo Mentee", channel=ChannelName.EMAIL)
    n = reminder(recipient(Role.MENTEE, bo))

    with pytest.raises(TemporaryDeliveryError, match="cannot reach"):
        await Deliverer(config(outbox, smtp_port=free_port()), ledger).deliver(n)
    assert ledger.rows == []
