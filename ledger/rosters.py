"""Who runs each program: its operators, kept beside the ledger.

Only an operator on a program's roster acts on its relationships, in the CLI and in the
portal (`client/access.py` checks). A program's first operator is whoever starts its first
relationship; from then on its operators add others (`mentorflow operators add`) and take
them off (`mentorflow operators remove`, never the last). A removed operator's row stays,
marked with who removed them and when; adding them again puts them back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select, update
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
    removed_by: str | None = None
    removed_at: datetime | None = None


class LastOperator(ValueError):
    """Taking off a program's last operator would leave it to whoever starts its next pair."""

    def __init__(self, program: str, operator_id: str) -> None:
        super().__init__(
            f"{operator_id} is the last operator of program {program!r}; add another operator "
            "first (a program with none is taken by whoever starts its next relationship)"
        )


def operators(engine: Engine, program: str, *, removed: bool = False) -> list[RosterEntry]:
    """The program's operators, first added first; `removed` adds those taken off it."""
    query = select(roster_table).where(_RO.program == program).order_by(_RO.added_at)
    if not removed:
        query = query.where(_RO.removed_at.is_(None))
    with engine.connect() as conn:
        return [RosterEntry.model_validate(dict(row._mapping)) for row in conn.execute(query)]


def programs_of(
    engine: Engine, *, operator_id: str | None = None, email: str | None = None
) -> list[RosterEntry]:
    """Every roster entry of one operator, found by id (the CLI) or by address (sign-in)."""
    query = select(roster_table).where(_RO.removed_at.is_(None)).order_by(_RO.program)
    if operator_id is not None:
        query = query.where(_RO.operator_id == operator_id)
    if email is not None:
        query = query.where(_RO.email == email.strip().lower())
    with engine.connect() as conn:
        return [RosterEntry.model_validate(dict(row._mapping)) for row in conn.execute(query)]


def is_operator(engine: Engine, program: str, operator_id: str) -> bool:
    query = select(_RO.operator_id).where(
        _RO.program == program, _RO.operator_id == operator_id, _RO.removed_at.is_(None)
    )
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def add(engine: Engine, entry: RosterEntry) -> bool:
    """False when the operator was on the roster already (nothing changes). One who was
    removed is put back, as added by `entry.added_by` now."""
    row = entry.model_dump(exclude={"removed_by", "removed_at"})
    row["email"] = entry.email.strip().lower()
    try:
        with engine.begin() as conn:
            conn.execute(roster_table.insert().values(**row))
    except IntegrityError:
        with engine.begin() as conn:
            back = conn.execute(
                update(roster_table)
                .where(*_one(entry.program, entry.operator_id), _RO.removed_at.is_not(None))
                .values(**row, removed_by=None, removed_at=None)
            )
        return back.rowcount == 1
    return True


def remove(engine: Engine, program: str, operator_id: str, by: str, at: datetime) -> bool:
    """False when they were not on the roster. Raises LastOperator rather than leave the
    program without one. Read and written in one transaction, so two operators removing each
    other at once cannot empty it: PostgreSQL's row locks make the second wait for the first,
    and on SQLite the transaction holds the write lock from its first read (`ledger_write`)."""
    with engine.connect() as conn, conn.execution_options(ledger_write=True).begin():
        active = (
            conn.execute(
                select(_RO.operator_id)
                .where(_RO.program == program, _RO.removed_at.is_(None))
                .with_for_update()
            )
            .scalars()
            .all()
        )
        if operator_id not in active:
            return False
        if len(active) == 1:
            raise LastOperator(program, operator_id)
        conn.execute(
            update(roster_table)
            .where(*_one(program, operator_id))
            .values(removed_by=by, removed_at=at)
        )
    return True


def _one(program: str, operator_id: str) -> tuple[Any, ...]:
    return (_RO.program == program, _RO.operator_id == operator_id)
