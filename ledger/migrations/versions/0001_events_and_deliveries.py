"""The ledger as v0.1 shipped it: chained events and notification deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("relationship_id", sa.String, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("program", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("relationship_id", "seq", name="pk_ledger_events"),
        sa.UniqueConstraint("key", name="uq_ledger_events_key"),
    )
    op.create_index(
        "ix_ledger_events_program", "ledger_events", ["program", "relationship_id", "seq"]
    )
    op.create_table(
        "ledger_deliveries",
        sa.Column("key", sa.String, nullable=False),
        sa.Column("recipient", sa.String, nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "recipient", name="pk_ledger_deliveries"),
    )
