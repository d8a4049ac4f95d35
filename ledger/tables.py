"""The ledger's tables as today's code reads and writes them.

The schema itself is made by the Alembic migrations in `ledger/migrations/versions`, each frozen
once released; `tests/test_ledger_migrations.py` proves that migrating an empty database gives
exactly these tables, so a change here without a migration fails the suite.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ledger.chain import require_utc


class UtcDateTime(TypeDecorator[datetime]):
    """SQLite forgets time zones; storing naive UTC there and aware UTC in PostgreSQL makes
    both backends hand back the same aware UTC value."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = require_utc(value, "timestamp")
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

events_table = Table(
    "ledger_events",
    metadata,
    Column("relationship_id", String, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("program", String, nullable=False),
    Column("key", String, nullable=False),
    Column("type", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    # The HMAC seal of (relationship, seq, hash) and the id of its key; empty on rows written
    # before keys were configured (a later sealed row vouches for them).
    Column("seal_key", String(64), nullable=True),
    Column("seal", String(64), nullable=True),
    PrimaryKeyConstraint("relationship_id", "seq", name="pk_ledger_events"),
    UniqueConstraint("key", name="uq_ledger_events_key"),
    Index("ix_ledger_events_program", "program", "relationship_id", "seq"),
    Index("ix_ledger_events_program_type", "program", "type", "occurred_at"),
)

deliveries_table = Table(
    "ledger_deliveries",
    metadata,
    Column("key", String, nullable=False),
    Column("recipient", String, nullable=False),
    Column("channel", String, nullable=False),
    Column("status", String, nullable=False),
    Column("detail", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("key", "recipient", name="pk_ledger_deliveries"),
)

# Every checkpoint written to the store outside the database, so that a store rolled back to
# an older checkpoint shows against what the database saw written.
checkpoints_table = Table(
    "ledger_checkpoints",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("written_at", UtcDateTime, nullable=False),
)

# The read model: one row per relationship, advanced in the transaction that appends its
# events, so `list`, `report` and `audit diff --all` read 10,000 rows instead of millions.
# `state` is the fold's own state after `last_seq`, from which the next append continues;
# `problem` says why the fold could not take an event (the row then stops at the event before).
summaries_table = Table(
    "ledger_summaries",
    metadata,
    Column("relationship_id", String, nullable=False),
    Column("program", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("topic", String, nullable=False),
    Column("mentor", String, nullable=True),
    Column("mentee", String, nullable=True),
    Column("phase", String, nullable=False),
    Column("outcome", String, nullable=True),
    Column("at_risk", Boolean, nullable=False),
    Column("at_risk_since", UtcDateTime, nullable=True),
    Column("ever_at_risk", Boolean, nullable=False),
    Column("next_meeting", UtcDateTime, nullable=True),
    Column("meetings_held", Integer, nullable=False),
    Column("meetings_missed", Integer, nullable=False),
    Column("loops_closed", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("concluded_at", UtcDateTime, nullable=True),
    Column("duration_days", Float, nullable=True),
    Column("time_scale", Float, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("last_type", String, nullable=False),
    Column("last_event_at", UtcDateTime, nullable=False),
    Column("state", Text, nullable=False),
    Column("problem", Text, nullable=True),
    PrimaryKeyConstraint("relationship_id", name="pk_ledger_summaries"),
    Index("ix_ledger_summaries_program", "program", "phase"),
    Index("ix_ledger_summaries_phase", "phase"),
)

# A relationship whose events the ledger refused (a missing predecessor, a key holding another
# event): it cannot progress until `mentorflow repair`. Written by the refused append itself,
# cleared by the next append that succeeds, so the ledger alone says who is blocked.
refusals_table = Table(
    "ledger_refusals",
    metadata,
    Column("relationship_id", String, nullable=False),
    Column("program", String, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("relationship_id", name="pk_ledger_refusals"),
)

# Who runs each program (`ledger/rosters.py`): only they act on its relationships.
roster_table = Table(
    "ledger_program_operators",
    metadata,
    Column("program", String, nullable=False),
    Column("operator_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("email", String, nullable=False),
    Column("added_by", String, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    # Set when another operator takes them off the roster: the row stays, so who ran the
    # program and who removed them can still be read.
    Column("removed_by", String, nullable=True),
    Column("removed_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("program", "operator_id", name="pk_ledger_program_operators"),
    Index("ix_ledger_program_operators_email", "email"),
)

# Written by the hand-rolled migrations of v0.1-v0.3 (versions 1 and 2); read once, to tell
# Alembic where such a database stands.
legacy_schema_table = Table(
    "ledger_schema_version",
    MetaData(),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime, nullable=False),
)
