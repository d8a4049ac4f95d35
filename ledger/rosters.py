"""Who runs each program: its operators, kept beside the ledger.

Only an operator on a program's roster acts on its relationships, in the CLI and in the
portal (`client/access.py` checks). A program's first operator is whoever starts its first
relationship; from then on its operators add others (`mentorflow operators add`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from ledger.tables import roster_table

_RO = roster_table.c


class RosterEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    program: str
    operator_id: str
    name: str
    email: str
    added_by: str
    added_at: datetime


def operators(engine: Engine, program: str) -> list[RosterEntry]:
    query = select(roster_table).where(_RO.program == program).order_by(_RO.added_at)
    with engine.connect() as conn:
        return [RosterEntry.model_validate(dict(row._mapping)) for row in conn.execute(query)]


def programs_of(
    engine: Engine, *, operator_id: str | None = None, email: str | None = None
) -> list[RosterEntry]:
    """Every roster entry of one operator, found by id (the CLI) or by address (sign-in)."""
    query = select(roster_table).order_by(_RO.program)
    if operator_id is not None:
        query = query.where(_RO.operator_id == operator_id)
    if email is not None:
        query = query.where(_RO.email == email.strip().lower())
    with engine.connect() as conn:
        return [RosterEntry.model_validate(dict(row._mapping)) for row in conn.execute(query)]


def is_operator(engine: Engine, program: str, operator_id: str) -> bool:
    query = select(_RO.operator_id).where(_RO.program == program, _RO.operator_id == operator_id)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def add(engine: Engine, entry: RosterEntry) -> bool:
    """False when the operator was on the roster already (nothing changes)."""
    row = entry.model_dump()
    row["email"] = entry.email.strip().lower()
    try:
        with engine.begin() as conn:
            conn.execute(roster_table.insert().values(**row))
    except IntegrityError:
        return False
    return True
