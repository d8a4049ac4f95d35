"""`mentorflow confirm` with some terms: the rest stay as proposed, on the real dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.lifecycle import Lifecycle
from tests.test_cli_commands import (  # noqa: F401 _logs_off_stdout is an autouse fixture
    Cli,
    _logs_off_stdout,
    iso,
    point_cli_at,
)


@pytest.fixture
def cli(dev_lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    point_cli_at(monkeypatch, dev_lifecycle)
    return Cli(f"p-{uuid.uuid4().hex[:8]}", tmp_path)


async def proposed(cli: Cli, cadence: str = "biweekly", format_: str = "phone") -> str:
    """A relationship whose mentee proposed `cadence` and `format_`, with the mentor committed."""
    rid = await cli.start("alice", "bob")
    await cli.ok(
        "goals",
        rid,
        *("--objective", "Lead a design review end to end"),
        *("--proposed-cadence", cadence, "--proposed-format", format_),
    )
    await cli.ok(
        "commitment",
        rid,
        *("--capacity", "6", "--availability", "Tuesday afternoons"),
        *("--expertise", "system design", "--communication", "email"),
    )
    return rid


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_confirm_with_only_a_cadence_takes_the_other_terms_from_the_proposal(
    cli: Cli,
) -> None:
    rid = await proposed(cli, cadence="biweekly", format_="phone")
    before = datetime.now(UTC)

    confirmed = await cli.json("confirm", rid, "--as", "mentee", "--cadence", "monthly")
    assert confirmed["events"] == ["AgreementConfirmed"]
    signed = await cli.json("confirm", rid, "--as", "mentor")
    assert "AgreementSigned" in signed["events"]

    agreement = (await cli.json("status", rid))["agreement"]
    assert agreement["cadence"]["kind"] == "monthly"
    assert agreement["format"] == "phone"
    assert agreement["session_minutes"] == 60
    assert moment(agreement["first_meeting_at"]) > before, "the first meeting is still ahead"


async def test_confirm_with_some_terms_takes_the_rest_from_the_pending_terms(cli: Cli) -> None:
    rid = await proposed(cli)
    first = iso(datetime.now(UTC) + timedelta(days=10))
    await cli.ok(
        "confirm",
        rid,
        *("--as", "mentee", "--cadence", "weekly", "--format", "in_person"),
        *("--first-meeting", first, "--session-minutes", "90"),
    )

    await cli.ok("confirm", rid, "--as", "mentor", "--format", "hybrid")
    pending = (await cli.json("status", rid))["state"]
    assert pending["confirmed_by"] == ["mentor"], "changed terms wait for the mentee again"
    signed = await cli.json("confirm", rid, "--as", "mentee")
    assert "AgreementSigned" in signed["events"]

    agreement = (await cli.json("status", rid))["agreement"]
    assert agreement["format"] == "hybrid"
    assert agreement["cadence"]["kind"] == "weekly"
    assert agreement["session_minutes"] == 90
    assert moment(agreement["first_meeting_at"]) == moment(first)


async def test_confirm_with_a_cadence_before_any_proposal_says_what_to_give(cli: Cli) -> None:
    rid = await cli.start("alice", "bob")
    line = await cli.refused("confirm", rid, "--as", "mentee", "--cadence", "monthly")
    assert line.startswith("error: terms: nothing is proposed yet")
    assert (await cli.json("status", rid))["state"]["seq"] == 1
