"""Alembic migrations on both backends: from nothing, from each released shape, concurrently."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, text

from client.access import admit_starter
from ledger import rosters, schema, summaries
from ledger.records import to_entry
from ledger.store import Ledger
from ledger.tables import legacy_schema_table, metadata
from tests.audit_journeys import eventful, never_started
from tests.factories import OPS, T0
from tests.test_ledger_store import history, run_together, sql
from tests.test_ledger_store import ledger as ledger  # fixture: SQLite and PostgreSQL
from tests.test_ledger_store import ledger_url as ledger_url  # fixture
from tests.test_ledger_store import postgres_database as postgres_database  # fixture

VERSIONS = "SELECT version_num FROM ledger_alembic_version"


def test_the_store_expects_the_head_of_the_migration_scripts() -> None:
    assert schema.script_head() == schema.HEAD


def test_migrating_an_empty_database_makes_exactly_the_tables_the_code_reads(
    ledger: Ledger,
) -> None:
    with ledger.engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    ignored = {"ledger_alembic_version"}
    assert [d for d in drift if not (d[0] == "remove_table" and d[1].name in ignored)] == []


def test_migrating_again_is_harmless(ledger_url: str, ledger: Ledger) -> None:
    ledger.append(history("r1", 3))
    ledger.record_delivery("r1:000001", "mentor:alice", "smtp", "delivered")
    ledger.migrate()
    ledger.migrate()
    with Ledger.from_url(ledger_url) as reopened:
        assert reopened.schema_revision() == schema.HEAD
        assert [e.seq for e in reopened.events("r1")] == [1, 2, 3]
        assert reopened.delivery_status("r1:000001", "mentor:alice") == "delivered"
    assert sql(ledger, VERSIONS) == [(schema.HEAD,)]


def _before_0005(conn: Connection) -> None:
    """No index by program and type: what every release before it had."""
    conn.execute(text("DROP INDEX ix_ledger_events_program_type"))


def _before_0006(conn: Connection) -> None:
    """No removals on the roster: what v0.5.0 had."""
    conn.execute(text("ALTER TABLE ledger_program_operators DROP COLUMN removed_by"))
    conn.execute(text("ALTER TABLE ledger_program_operators DROP COLUMN removed_at"))


def _back_to_hand_rolled(ledger: Ledger, versions: list[int]) -> None:
    """The database as v0.1-v0.3 left it: their own version table, no Alembic, no summaries."""
    with ledger.engine.begin() as conn:
        _before_0005(conn)
        conn.execute(text("DROP TABLE ledger_program_operators"))
        conn.execute(text("DROP TABLE ledger_summaries"))
        conn.execute(text("DROP TABLE ledger_refusals"))
        conn.execute(text("DROP TABLE ledger_alembic_version"))
        legacy_schema_table.create(conn)
        stamps = [{"version": v, "applied_at": datetime.now(UTC)} for v in versions]
        conn.execute(insert(legacy_schema_table), stamps)


def _write_journeys(ledger: Ledger) -> None:
    for rid, journey in (("r-eventful", eventful()), ("r-silent", never_started())):
        ledger.append(
            [to_entry(r.model_copy(update={"relationship_id": rid})) for r in journey.history]
        )


def test_a_v0_3_ledger_is_taken_over_and_summarises_what_it_already_holds(
    ledger_url: str, ledger: Ledger
) -> None:
    _write_journeys(ledger)
    expected = summaries.everything(ledger.engine)
    _back_to_hand_rolled(ledger, [1, 2])

    with Ledger.from_url(ledger_url) as upgraded:
        assert upgraded.schema_revision() == schema.HEAD
        assert summaries.everything(upgraded.engine) == expected
        assert upgraded.verify("r-eventful").ok
    assert sql(ledger, VERSIONS) == [(schema.HEAD,)]


def test_a_v0_4_ledger_gives_each_program_the_operators_of_its_relationships(
    ledger_url: str, ledger: Ledger
) -> None:
    _write_journeys(ledger)
    with ledger.engine.begin() as conn:
        _before_0005(conn)
        conn.execute(text("DROP TABLE ledger_program_operators"))
        conn.execute(text("UPDATE ledger_alembic_version SET version_num = '0003'"))

    with Ledger.from_url(ledger_url) as upgraded:
        assert upgraded.schema_revision() == schema.HEAD
        [entry] = rosters.operators(upgraded.engine, "eng-2026")
    assert (entry.operator_id, entry.email) == ("olga", "olga@example.org")
    assert rosters.is_operator(ledger.engine, "eng-2026", "olga")
    assert not rosters.is_operator(ledger.engine, "eng-2026", "mallory")


def test_a_v0_5_0_ledger_gains_the_index_the_program_report_reads(
    ledger_url: str, ledger: Ledger
) -> None:
    _write_journeys(ledger)
    with ledger.engine.begin() as conn:
        _before_0006(conn)
        _before_0005(conn)
        conn.execute(text("UPDATE ledger_alembic_version SET version_num = '0004'"))

    with Ledger.from_url(ledger_url) as upgraded:
        assert upgraded.schema_revision() == schema.HEAD
        indexes = {i["name"] for i in inspect(upgraded.engine).get_indexes("ledger_events")}
        assert "ix_ledger_events_program_type" in indexes
        assert len(upgraded.events("r-eventful")) == len(eventful().history)


def test_a_ledger_of_0005_keeps_every_operator_on_their_roster(
    ledger_url: str, ledger: Ledger
) -> None:
    _write_journeys(ledger)
    admit_starter(ledger.engine, "eng-2026", OPS, T0)
    with ledger.engine.begin() as conn:
        _before_0006(conn)
        conn.execute(text("UPDATE ledger_alembic_version SET version_num = '0005'"))

    with Ledger.from_url(ledger_url) as upgraded:
        assert upgraded.schema_revision() == schema.HEAD
        [entry] = rosters.operators(upgraded.engine, "eng-2026")
        assert (entry.operator_id, entry.removed_at) == ("olga", None)
        assert rosters.is_operator(upgraded.engine, "eng-2026", "olga")


def test_a_v0_2_ledger_gains_the_seal_columns_and_keeps_its_rows(
    ledger_url: str, ledger: Ledger
) -> None:
    _write_journeys(ledger)
    seqs = [e.seq for e in ledger.events("r-silent")]
    _back_to_hand_rolled(ledger, [1])
    with ledger.engine.begin() as conn:
        conn.execute(text("ALTER TABLE ledger_events DROP COLUMN seal_key"))
        conn.execute(text("ALTER TABLE ledger_events DROP COLUMN seal"))
        conn.execute(text("DROP TABLE ledger_checkpoints"))

    with Ledger.from_url(ledger_url) as upgraded:
        assert upgraded.schema_revision() == schema.HEAD
        stored = upgraded.events("r-silent")
        assert [(e.seq, e.seal) for e in stored] == [(s, None) for s in seqs]
        assert upgraded.verify("r-silent").ok
        found = summaries.summaries(upgraded.engine, ["r-eventful", "r-silent"])
        assert found["r-silent"].outcome == "not_started"
        assert found["r-eventful"].phase == "concluded"


def test_workers_starting_together_migrate_once(ledger_url: str) -> None:
    opened: list[Ledger] = []
    _, errors = run_together([lambda: opened.append(Ledger.from_url(ledger_url))] * 4)
    try:
        assert errors == []
        assert len(opened) == 4
        assert sql(opened[0], VERSIONS) == [(schema.HEAD,)]
    finally:
        for store in opened:
            store.dispose()
