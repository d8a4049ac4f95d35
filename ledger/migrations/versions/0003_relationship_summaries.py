"""v0.4: the relationship summary read model, filled from the events already recorded, and
the refusals that block a relationship.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "ledger_summaries",
        sa.Column("relationship_id", sa.String, nullable=False),
        sa.Column("program", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("topic", sa.String, nullable=False),
        sa.Column("mentor", sa.String, nullable=True),
        sa.Column("mentee", sa.String, nullable=True),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("outcome", sa.String, nullable=True),
        sa.Column("at_risk", sa.Boolean, nullable=False),
        sa.Column("at_risk_since", when, nullable=True),
        sa.Column("ever_at_risk", sa.Boolean, nullable=False),
        sa.Column("next_meeting", when, nullable=True),
        sa.Column("meetings_held", sa.Integer, nullable=False),
        sa.Column("meetings_missed", sa.Integer, nullable=False),
        sa.Column("loops_closed", sa.Integer, nullable=False),
        sa.Column("started_at", when, nullable=True),
        sa.Column("concluded_at", when, nullable=True),
        sa.Column("duration_days", sa.Float, nullable=True),
        sa.Column("time_scale", sa.Float, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("last_type", sa.String, nullable=False),
        sa.Column("last_event_at", when, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("problem", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("relationship_id", name="pk_ledger_summaries"),
    )
    op.create_index("ix_ledger_summaries_program", "ledger_summaries", ["program", "phase"])
    op.create_index("ix_ledger_summaries_phase", "ledger_summaries", ["phase"])
    op.create_table(
        "ledger_refusals",
        sa.Column("relationship_id", sa.String, nullable=False),
        sa.Column("program", sa.String, nullable=False),
        sa.Column("since", when, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("relationship_id", name="pk_ledger_refusals"),
    )
    # Filling it folds every recorded relationship with today's fold: the same fold a later
    # `mentorflow audit rebuild` runs, so a data step here cannot disagree with one.
    from ledger.projection import rebuild_all

    rebuild_all(op.get_bind())
