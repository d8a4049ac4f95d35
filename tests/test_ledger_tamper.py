"""Tampering an intruder with database access could try, each found and named by `verify`.

The ledger is sealed (HMAC under keys the database never sees) and its heads are signed into
a checkpoint folder outside it. Each case edits the database (or the folder) directly, the
way an intruder would, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

import cli.audit_commands  # noqa: F401 registers `audit` on the app
from cli.app import app
from cli.connection import settings
from ledger import audit
from ledger.chain import LedgerEntry, chain_hash
from ledger.checkpoints import CheckpointStore
from ledger.keys import new_entry
from ledger.records import to_entry
from ledger.seal import SealKeys
from ledger.store import Ledger
from ledger.verification import Verdict, VerifyReport
from tests.audit_journeys import eventful, never_started, write
from tests.test_ledger_store import ledger_url, postgres_database  # noqa: F401 fixtures

KEY_A, KEY_B = new_entry("ledger-a"), new_entry("ledger-b")
KEYS = SealKeys.parse(f"{KEY_A},{KEY_B}")
R1_EVENTS = len(eventful().history)


@pytest.fixture
def sealed(ledger_url: str, tmp_path: Path) -> Iterator[tuple[Ledger, CheckpointStore]]:  # noqa: F811
    """r1 went through everything and concluded; r2 never started. One checkpoint signed."""
    store = CheckpointStore(tmp_path / "checkpoints")
    with Ledger.from_url(ledger_url, KEYS) as ledger:
        write(ledger, eventful().history)
        write(
            ledger,
            [r.model_copy(update={"relationship_id": "r2"}) for r in never_started().history],
        )
        assert store.write(ledger, KEYS) is not None
        yield ledger, store


def sql(ledger: Ledger, statement: str, **params: Any) -> list[Any]:
    with ledger.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def check(ledger: Ledger, store: CheckpointStore, rid: str = "r1") -> VerifyReport:
    return audit.verify(ledger, rid, audit.trust_of(ledger, store))


def reasons(report: VerifyReport) -> list[str]:
    return [f"{p.verdict.value}: {p.reason}" for p in report.findings]


def rechain_from(ledger: Ledger, rid: str, start: int) -> None:
    """What a careful forger does after an edit: recompute every later hash and link."""
    rows = sql(ledger, "SELECT * FROM ledger_events WHERE relationship_id = :r ORDER BY seq", r=rid)
    prev = None
    for row in (r._mapping for r in rows):
        if row["seq"] >= start:
            assert prev is not None
            entry = LedgerEntry(
                **{
                    k: row[k] for k in ("relationship_id", "program", "seq", "key", "type", "actor")
                },
                occurred_at=_aware(row["occurred_at"]),
                payload=json.loads(row["payload"]),
            )
            digest = chain_hash(prev, entry)
            sql(
                ledger,
                "UPDATE ledger_events SET prev_hash = :p, hash = :h "
                "WHERE relationship_id = :r AND seq = :s",
                p=prev,
                h=digest,
                r=rid,
                s=row["seq"],
            )
            prev = digest
        else:
            prev = row["hash"]


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.now().astimezone().tzinfo)


def test_an_untouched_sealed_ledger_is_intact_and_anchored(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    report = check(ledger, store)
    assert report.ok and report.verdict is Verdict.INTACT
    assert report.sealed and report.checked == R1_EVENTS
    assert report.anchor is not None and report.anchor.seq == R1_EVENTS and report.anchor.terminal


def test_a_middle_row_deleted_is_missing_and_named(sealed: tuple[Ledger, CheckpointStore]) -> None:
    ledger, store = sealed
    sql(ledger, "DELETE FROM ledger_events WHERE relationship_id = 'r1' AND seq = 12")
    report = check(ledger, store)
    assert report.verdict is Verdict.MISSING
    assert reasons(report)[0].startswith(
        "missing: event 12 is missing: the chain jumps from event 11"
    )


def test_the_tail_deleted_is_missing_against_the_checkpoint(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    sql(
        ledger,
        "DELETE FROM ledger_events WHERE relationship_id = 'r1' AND seq > :n",
        n=R1_EVENTS - 5,
    )
    report = check(ledger, store)
    assert report.verdict is Verdict.MISSING
    assert reasons(report) == [
        f"missing: events {R1_EVENTS - 4}..{R1_EVENTS} are missing from the tail (its conclusion "
        f"among them): checkpoint 1 signed event {R1_EVENTS}, the ledger ends at {R1_EVENTS - 5}"
    ]


def test_the_last_row_alone_deleted_is_missing(sealed: tuple[Ledger, CheckpointStore]) -> None:
    ledger, store = sealed
    sql(ledger, "DELETE FROM ledger_events WHERE relationship_id = 'r1' AND seq = :n", n=R1_EVENTS)
    assert check(ledger, store).verdict is Verdict.MISSING


def test_a_rewrite_re_chained_is_altered_at_the_rewritten_event(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    sql(
        ledger,
        "UPDATE ledger_events SET payload = replace(payload, 'Ran the design review', "
        "'Skipped the design review') WHERE relationship_id = 'r1' AND seq = 14",
    )
    rechain_from(ledger, "r1", 14)
    assert ledger.verify("r1").ok, "the unkeyed chain alone is fooled"
    report = check(ledger, store)
    assert report.verdict is Verdict.ALTERED
    assert reasons(report)[0].startswith(
        "altered: event 14 (r1:000014) was altered: its seal does not match"
    )


def test_rows_swapped_between_two_relationships_are_altered(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    for rid, other in (("r1", "tmp"), ("r2", "r1"), ("tmp", "r2")):
        sql(
            ledger,
            "UPDATE ledger_events SET relationship_id = :o WHERE relationship_id = :r AND seq = 1",
            o=other,
            r=rid,
        )
    for rid in ("r1", "r2"):
        report = check(ledger, store, rid)
        assert report.verdict is Verdict.ALTERED, rid
        assert report.problem is not None and report.problem.seq == 1


def test_a_stripped_seal_is_altered(sealed: tuple[Ledger, CheckpointStore]) -> None:
    ledger, store = sealed
    sql(
        ledger,
        "UPDATE ledger_events SET seal = NULL, seal_key = NULL "
        "WHERE relationship_id = 'r1' AND seq >= 20",
    )
    report = check(ledger, store)
    assert report.verdict is Verdict.ALTERED
    assert "event 20 (r1:000020) lost its seal" in reasons(report)[0]


def test_a_key_id_changed_to_another_key_is_altered_and_to_an_unknown_one_unreadable(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    sql(
        ledger,
        "UPDATE ledger_events SET seal_key = 'ledger-b' WHERE relationship_id = 'r1' AND seq = 3",
    )
    assert check(ledger, store).verdict is Verdict.ALTERED
    sql(
        ledger,
        "UPDATE ledger_events SET seal_key = 'ledger-z' WHERE relationship_id = 'r1' AND seq = 3",
    )
    report = check(ledger, store)
    assert report.verdict is Verdict.UNREADABLE
    assert "sealed with ledger key 'ledger-z', which is not configured here" in reasons(report)[0]


def test_an_older_checkpoint_restored_over_the_newest_is_caught(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    second = store.write(ledger, KEYS)
    assert second is not None and second.number == 2
    files = sorted(store.folder.iterdir())
    shutil.copy(files[0], files[1])  # the intruder puts checkpoint 1 back as the newest
    log = audit.trust_of(ledger, store).log
    assert log is not None
    assert [p.reason for p in log.problems][:1] == [
        "the file of checkpoint 2 holds checkpoint 1: the store was rolled back or files were "
        "copied over"
    ]


def test_the_newest_checkpoint_deleted_shows_against_the_database_witness(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    store.write(ledger, KEYS)
    sorted(store.folder.iterdir())[-1].unlink()
    log = audit.trust_of(ledger, store).log
    assert log is not None
    assert any("checkpoint(s) 2 were written" in p.reason for p in log.problems)


def test_a_checkpoint_edited_by_hand_fails_its_signature(
    sealed: tuple[Ledger, CheckpointStore],
) -> None:
    ledger, store = sealed
    path = sorted(store.folder.iterdir())[0]
    data = json.loads(path.read_text())
    data["heads"]["r1"]["seq"] = 3
    path.write_text(json.dumps(data))
    log = audit.trust_of(ledger, store).log
    assert log is not None
    assert any("signature is wrong" in p.reason for p in log.problems)


def test_a_row_from_a_newer_release_is_unreadable_not_altered(tmp_path: Path) -> None:
    *history, last = never_started().history
    newer = to_entry(last).model_copy(
        update={"type": "SomethingNew", "payload": {"event": {"type": "SomethingNew"}}}
    )
    with Ledger.from_url(f"sqlite:///{tmp_path / 'l.db'}", KEYS) as ledger:
        write(ledger, history)
        ledger.append([newer])
        report = audit.verify(ledger, last.relationship_id)
    assert report.verdict is Verdict.UNREADABLE
    assert "cannot be read by this version (not tampering)" in reasons(report)[0]


# --------------------------------------------------------------------------- the command


def mentorflow(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def cli_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", url)
    monkeypatch.setenv("MENTORFLOW_LEDGER_KEYS", f"{KEY_A},{KEY_B}")
    monkeypatch.setenv("MENTORFLOW_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    settings.cache_clear()
    with Ledger.from_url(url, KEYS) as ledger:
        write(ledger, eventful().history)
        yield ledger
    settings.cache_clear()


def test_verify_tells_the_three_verdicts_apart_by_exit_code(cli_ledger: Ledger) -> None:
    signed = mentorflow("audit", "checkpoint")
    assert signed.exit_code == 0, signed.output
    assert "checkpoint 1: 1 relationship head(s) signed with key ledger-a" in signed.stdout
    intact = mentorflow("audit", "verify", "--all")
    assert intact.exit_code == 0, intact.output
    assert "#1 at event" in intact.stdout and "intact" in intact.stdout

    sql(cli_ledger, "UPDATE ledger_events SET seal_key = 'ledger-z' WHERE seq = 2")
    unreadable = mentorflow("audit", "verify", "r1")
    assert unreadable.exit_code == 8
    assert unreadable.stderr.strip().startswith("error: unreadable: r1: event 2 (r1:000002)")

    sql(cli_ledger, "DELETE FROM ledger_events WHERE seq = :n", n=R1_EVENTS)
    missing = mentorflow("audit", "verify", "r1")
    assert missing.exit_code == 7, "missing outranks unreadable"

    sql(cli_ledger, "UPDATE ledger_events SET payload = replace(payload, 'e', 'E') WHERE seq = 5")
    altered = mentorflow("audit", "verify", "r1", "--json")
    assert altered.exit_code == 6, "altered outranks both"
    findings = json.loads(altered.stdout)["relationships"][0]["findings"]
    assert [f["verdict"] for f in findings] == ["altered", "unreadable", "missing"]


def test_checkpoint_refuses_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.from_url(url) as ledger:
        write(ledger, never_started().history)
    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", url)
    monkeypatch.setenv("MENTORFLOW_DATA_DIR", str(tmp_path))
    settings.cache_clear()
    refused = mentorflow("audit", "checkpoint")
    settings.cache_clear()
    assert refused.exit_code == 4
    assert "set MENTORFLOW_LEDGER_KEYS" in refused.stderr


def test_a_bad_key_list_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.from_url(url).dispose()
    monkeypatch.setenv("MENTORFLOW_LEDGER_URL", url)
    monkeypatch.setenv("MENTORFLOW_LEDGER_KEYS", "ledger-a:not-base64!")
    settings.cache_clear()
    result = mentorflow("audit", "verify", "--all")
    settings.cache_clear()
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: MENTORFLOW_LEDGER_KEYS entry 1 (key 'ledger-a') is not valid base64; "
        "`mentorflow ledger-key` prints one"
    )


def test_an_export_verifies_with_the_standard_library_alone(
    cli_ledger: Ledger, tmp_path: Path
) -> None:
    exported = tmp_path / "eng-2026.jsonl"
    written = mentorflow("audit", "export", "--program", "eng-2026", "--output", str(exported))
    assert written.exit_code == 0, written.output
    keys = tmp_path / "ledger.keys"
    keys.write_text(f"{KEY_A}\n{KEY_B}\n")
    script = Path(audit.__file__).with_name("verify_export.py")

    def standalone(*args: str) -> subprocess.CompletedProcess[str]:
        # -I -S: no site-packages, no project on the path; the standard library only
        command = [sys.executable, "-I", "-S", str(script), str(exported), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    intact = standalone("--keys-file", str(keys))
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"r1: intact: {R1_EVENTS} events intact")

    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    forged = rows[13]["hashed"].replace("Ran the design review", "Skipped the design review")
    rows[13] = {**rows[13], "hashed": forged}
    rows[13]["hash"] = hashlib.sha256((rows[13]["prev_hash"] + forged).encode()).hexdigest()
    exported.write_text("".join(json.dumps(r) + "\n" for r in rows))
    altered = standalone("--keys-file", str(keys))
    assert altered.returncode == 6
    assert "r1: ALTERED: event 14 (r1:000014): its seal does not match" in altered.stdout
