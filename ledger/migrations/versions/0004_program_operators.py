"""v0.5: each program's operators, filled with the operator of every relationship already
recorded, so whoever runs a program today keeps acting on it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_program_operators",
        sa.Column("program", sa.String, nullable=False),
        sa.Column("operator_id", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("email", sa.String, nullable=False),
        sa.Column("added_by", sa.String, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("program", "operator_id", name="pk_ledger_program_operators"),
    )
    op.create_index("ix_ledger_program_operators_email", "ledger_program_operators", ["email"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    events = sa.table(
        "ledger_events",
        sa.column("program", sa.String),
        sa.column("type", sa.String),
        sa.column("payload", sa.Text),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
    )
    started = conn.execute(
        sa.select(events.c.program, events.c.payload, events.c.occurred_at)
        .where(events.c.type == "RelationshipStarted")
        .order_by(events.c.occurred_at)
    )
    seen: set[tuple[str, str]] = set()
    rows = []
    for program, payload, occurred_at in started:
        operator = json.loads(payload).get("event", {}).get("operator") or {}
        operator_id = operator.get("id")
        if not operator_id or (program, operator_id) in seen:
            continue
        seen.add((program, operator_id))
        rows.append(
            {
                "program": program,
                "operator_id": operator_id,
                "name": operator.get("name") or operator_id,
                "email": str(operator.get("email") or "").lower(),
                "added_by": "migration 0004: operator of a recorded relationship",
                "added_at": occurred_at,
            }
        )
    if rows:
        roster = sa.table(
            "ledger_program_operators",
            *(sa.column(name) for name in rows[0]),
        )
        conn.execute(roster.insert(), rows)
