"""Who may act on a program's relationships: the operators on its roster.

The CLI and the portal both ask here before they send an operator's command, so an operator
not on the program's roster is refused the same way everywhere, before anything is sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from ledger import rosters
from mentorship.participants import Participant


class NotOnRoster(PermissionError):
    """An operator acting on a program whose roster does not name them."""

    def __init__(self, program: str, operator_id: str, known: list[str]) -> None:
        listed = ", ".join(known) or "nobody yet"
        super().__init__(
            f"operator '{operator_id}' is not on the roster of program '{program}' "
            f"(its operators: {listed}); one of them adds you with `mentorflow operators add "
            f"{program} --id {operator_id} --name NAME --email ADDRESS`"
        )
        self.program, self.operator_id = program, operator_id


def admit(engine: Engine, program: str, operator_id: str) -> None:
    """Raises NotOnRoster unless `operator_id` runs `program`."""
    if not rosters.is_operator(engine, program, operator_id):
        known = [e.operator_id for e in rosters.operators(engine, program)]
        raise NotOnRoster(program, operator_id, known)


def admit_starter(engine: Engine, program: str, operator: Participant, now: datetime) -> bool:
    """Starting a relationship: a program nobody runs yet gets its starter as first operator
    (True); otherwise the starter must be on its roster."""
    if not rosters.operators(engine, program):
        entry = rosters.RosterEntry(
            program=program,
            operator_id=operator.id,
            name=operator.name,
            email=operator.email,
            added_by=f"{operator.id} (started the program's first relationship)",
            added_at=now,
        )
        if rosters.add(engine, entry):
            return True
    admit(engine, program, operator.id)
    return False


def add_operator(
    engine: Engine, program: str, by: str, newcomer: Participant, now: datetime
) -> bool:
    """An operator of `program` adds another; False when they were on it already."""
    admit(engine, program, by)
    entry = rosters.RosterEntry(
        program=program,
        operator_id=newcomer.id,
        name=newcomer.name,
        email=newcomer.email,
        added_by=by,
        added_at=now,
    )
    return rosters.add(engine, entry)


def remove_operator(engine: Engine, program: str, by: str, operator_id: str, now: datetime) -> bool:
    """An operator of `program` takes another (or themself) off it; False when that one was
    not on it. Raises rosters.LastOperator rather than leave the program without one."""
    admit(engine, program, by)
    return rosters.remove(engine, program, operator_id, by, now)
