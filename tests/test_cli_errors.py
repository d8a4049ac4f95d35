"""Every mistyped value is one line naming the flag as typed, the format, and an example; and
nothing is sent (these fail before any connection is made)."""

from __future__ import annotations

import sys

import pytest

from cli import connection
from cli.app import _register_for, _run

MISTAKES = [
    (
        ["reschedule", "r1", "--as", "mentee", "--meeting", "2", "--to", "next tuesday"],
        "--to: 'next tuesday' is not a date and time; use ISO 8601 with an offset, "
        "e.g. 2026-03-20T15:00:00Z",
    ),
    (
        ["extend", "r1", "--end-date", "2026-13-01"],
        "--end-date: '2026-13-01' is not a date; use YYYY-MM-DD, e.g. 2027-01-31",
    ),
    (
        ["log-meeting", "r1", "--as", "mentor", "--held-at", "yesterday"],
        "--held-at: 'yesterday' is not a date and time; use ISO 8601",
    ),
    (["log-meeting", "r1", "--as", "mentor", "--duration", "2"], "--duration: 2 must be greater"),
    (
        [
            "confirm",
            "r1",
            "--as",
            "mentee",
            "--cadence",
            "weekly",
            "--format",
            "virtual",
            "--first-meeting",
            "2030-01-01T10:00",
        ],
        "--first-meeting: has no time zone; give it with an offset",
    ),
    (
        ["goals", "r1", "--objective", "x", "--proposed-cadence", "sometimes"],
        "--proposed-cadence: unknown cadence 'sometimes'; use weekly, biweekly, monthly",
    ),
    (
        [
            "commitment",
            "r1",
            "--capacity",
            "2",
            "--availability",
            "pm",
            "--expertise",
            "x",
            "--communication",
            "email",
            "--window",
            "afternoons",
        ],
        "--window: 'afternoons' is not a weekly window; write days and hours",
    ),
    (
        [
            "review",
            "r1",
            "--as",
            "mentor",
            "--number",
            "1",
            "--effectiveness",
            "4",
            "--progress",
            "o1",
            "--decision",
            "continue",
        ],
        "--progress: 'o1' is not OBJECTIVE=RATING; write e.g. o1=4",
    ),
    (
        [
            "confirm",
            "r1",
            "--as",
            "mentee",
            "--cadence",
            "weekly",
            "--format",
            "virtual",
            "--first-meeting",
            "2027-01-05T14:00:00Z",
            "--link",
            "meet.example.org/ana",
        ],
        "--link: 'meet.example.org/ana' is not a web address; give the call's link",
    ),
    (["goals", "r1", "--as", "boss"], "--as: 'boss' is not one of 'mentor', 'mentee'"),
    (["goals", "r1", "--nope"], "No such option: --nope (see `mentorflow goals --help`)"),
    (["status"], "Missing argument 'relationship_id'"),
]


@pytest.mark.parametrize(
    ("args", "said"), MISTAKES, ids=[" ".join(a[:1] + a[2:4]) for a, _ in MISTAKES]
)
def test_a_mistyped_value_is_one_line_naming_the_flag(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["mentorflow", *args])
    monkeypatch.setattr(connection, "client", _no_connection)
    _register_for(args)
    code = _run()
    err = capsys.readouterr().err.strip()
    assert code in (1, 2), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {said}"), err
    assert "pydantic" not in err and "Input should" not in err


async def _no_connection() -> None:
    raise AssertionError("a mistyped value must be refused before connecting")


def test_an_engine_that_is_down_is_one_line_without_transport_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("MENTORFLOW_COMMAND_TIMEOUT", "10")
    connection.settings.cache_clear()
    monkeypatch.setattr(sys, "argv", ["mentorflow", "status", "r1"])
    _register_for(["status", "r1"])
    code = _run()
    connection.settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert code == 5
    assert err == (
        "error: cannot reach Temporal at 127.0.0.1:1 (nothing is listening there); start the "
        "engine with `make run` (or `mentorflow up`), or set TEMPORAL_ADDRESS"
    )
