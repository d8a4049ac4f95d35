"""v0.5: an operator can be taken off a program's roster. The row stays, marked with who
removed them and when, so the roster still shows who ran the program.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_program_operators", sa.Column("removed_by", sa.String, nullable=True))
    op.add_column(
        "ledger_program_operators",
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
