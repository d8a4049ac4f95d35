"""v0.3: rows sealed under keys kept outside the database; checkpoints witnessed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: a batch copy of a large events table would be slow.
    op.add_column("ledger_events", sa.Column("seal_key", sa.String(64), nullable=True))
    op.add_column("ledger_events", sa.Column("seal", sa.String(64), nullable=True))
    op.create_table(
        "ledger_checkpoints",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )
