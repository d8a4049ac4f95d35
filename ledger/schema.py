"""Bringing a ledger database to the schema this release reads, with Alembic.

Migrations live in `ledger/migrations/versions`, one frozen file per schema change. A database
written by v0.1-v0.3 carries the hand-rolled `ledger_schema_version` table instead; its highest
version maps onto the Alembic revision that made the same tables, so it is stamped there and
upgraded like any other.

The ledger only moves forward: the scripts have no downgrade step; going back a release means
restoring the backup taken before the upgrade.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection

from ledger.tables import legacy_schema_table

HEAD = "0006"  # `tests/test_ledger_migrations.py` checks it against the scripts' head
VERSION_TABLE = "ledger_alembic_version"  # also named in migrations/env.py
LEGACY_REVISIONS = {1: "0001", 2: "0002"}
_SCRIPTS = Path(__file__).with_name("migrations")


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _legacy_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(legacy_schema_table.name):
        return None
    version = conn.execute(select(func.max(legacy_schema_table.c.version))).scalar()
    return LEGACY_REVISIONS.get(int(version or 0))


def upgrade(conn: Connection) -> None:
    """Runs inside the caller's transaction, which holds the migration lock."""
    import structlog  # like alembic: only a database behind this release pays for the import
    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of ours says it all
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    found = current_revision(conn)
    if found is None:
        found = _legacy_revision(conn)
        if found is not None:
            command.stamp(config, found)
    command.upgrade(config, "head")
    structlog.get_logger("mentorflow.ledger").info(
        "ledger schema migrated", from_revision=found or "empty", to_revision=HEAD
    )


def script_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return ScriptDirectory.from_config(config).get_current_head()
