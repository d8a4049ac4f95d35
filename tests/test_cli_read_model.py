"""`list`, `report` and `audit rebuild` read the ledger's summaries: they answer with the
engine away, in an operator's words, and `list` keeps ids whole at 80 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.records import to_entry
from ledger.store import IntegrityConflict, Ledger
from tests.test_ledger_summaries import append_in_random_batches, as_relationship, cohort

NOBODY = "127.0.0.1:9"  # no Temporal listens here


@pytest.fixture
def ledger_env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path}/ledger.db"
    with Ledger.from_url(url) as ledger:
        append_in_random_batches(ledger, cohort())
        risky = cohort()["spring-risky"]
        blocked = [to_entry(r) for r in as_relationship(risky, "spring-stuck", "spring")]
        ledger.append(blocked[:5])
        with pytest.raises(IntegrityConflict):
            ledger.append(blocked[6:8])
    return {
        **os.environ,
        "MENTORFLOW_LEDGER_URL": url,
        "MENTORFLOW_DATA_DIR": str(tmp_path),
        "TEMPORAL_ADDRESS": NOBODY,
        "MENTORFLOW_COMMAND_TIMEOUT": "5",
        "COLUMNS": "80",
    }


def mentorflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "mentorflow"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def as_json(env: dict[str, str], *args: str) -> Any:
    done = mentorflow(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_list_reads_the_ledger_with_the_engine_away(ledger_env: dict[str, str]) -> None:
    rows = as_json(ledger_env, "list", "--program", "spring")
    assert [r["relationship_id"] for r in rows] == [
        "spring-eventful",
        "spring-risky",
        "spring-silent",
        "spring-stuck",
    ]
    by_id = {r["relationship_id"]: r for r in rows}
    assert by_id["spring-risky"]["health"] == "AT RISK"
    assert by_id["spring-risky"]["at_risk_since"] is not None
    assert by_id["spring-eventful"]["status"] == "concluded"
    assert by_id["spring-stuck"]["health"] == "LEDGER BLOCKED"
    assert by_id["spring-stuck"]["blocked_since"] is not None
    at_risk = as_json(ledger_env, "list", "--at-risk")
    assert [r["relationship_id"] for r in at_risk] == ["autumn-risky", "spring-risky"]


def test_list_fits_80_columns_with_every_id_whole(ledger_env: dict[str, str]) -> None:
    done = mentorflow(ledger_env, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "Relationships (7)" in done.stdout
    assert max(len(line) for line in lines) <= 80
    for rid in ("autumn-eventful", "spring-silent", "spring-stuck"):
        assert any(f"│ {rid} " in line for line in lines), f"{rid} is whole on one line"


def test_list_blocked_says_what_only_temporal_could_add(ledger_env: dict[str, str]) -> None:
    done = mentorflow(ledger_env, "list", "--blocked", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["relationship_id"] for r in json.loads(done.stdout)] == ["spring-stuck"]
    assert f"Temporal at {NOBODY} did not answer" in done.stderr
    assert "runs blocked before v0.4 only Temporal knows" in done.stderr


def test_report_counts_each_program_from_the_summaries(ledger_env: dict[str, str]) -> None:
    reports = {r["program"]: r for r in as_json(ledger_env, "report")}
    assert sorted(reports) == ["autumn", "spring"]
    assert reports["spring"]["relationships"] == 4  # the stuck pair counts, up to its event 5
    assert reports["autumn"]["by_outcome"]["not_started"] == 1
    assert reports["autumn"]["at_risk_now"] == 1


def test_audit_rebuild_refolds_every_summary_and_changes_nothing(
    ledger_env: dict[str, str],
) -> None:
    before = as_json(ledger_env, "list")
    done = mentorflow(ledger_env, "audit", "rebuild")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rebuilt 7 relationship summaries from the ledger's events"
    assert as_json(ledger_env, "list") == before


def test_a_missing_ledger_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "MENTORFLOW_LEDGER_URL": f"sqlite:///{tmp_path}/none.db"}
    done = mentorflow(env, "list")
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"error: no ledger at {tmp_path}/none.db")
    assert "MENTORFLOW_LEDGER_URL" in done.stderr
    assert not (tmp_path / "none.db").exists(), "nothing created"
