"""v0.5: the program report reads a program's events of a few types by time; an index on
(program, type, occurred_at) serves it from the index alone instead of every event of the
program.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_events_program_type", "ledger_events", ["program", "type", "occurred_at"]
    )
