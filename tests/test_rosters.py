"""A program's roster on both backends: operators add and take off others, never the last;
one taken off keeps their row (who removed them, when) and is on it no more."""

from __future__ import annotations

from datetime import timedelta

import pytest

from client.access import NotOnRoster, add_operator, admit, admit_starter, remove_operator
from ledger import rosters
from ledger.store import Ledger
from mentorship.participants import Participant
from tests.factories import OPS, T0
from tests.test_ledger_store import ledger as ledger  # fixture: SQLite and PostgreSQL
from tests.test_ledger_store import ledger_url as ledger_url  # fixture
from tests.test_ledger_store import postgres_database as postgres_database  # fixture

OSCAR = Participant(id="oscar", name="Oscar Operator", email="Oscar@Example.org")


def _ids(ledger: Ledger, program: str = "eng-2026") -> list[str]:
    return [e.operator_id for e in rosters.operators(ledger.engine, program)]


def test_an_operator_is_taken_off_and_keeps_their_row(ledger: Ledger) -> None:
    engine = ledger.engine
    assert admit_starter(engine, "eng-2026", OPS, T0)
    assert add_operator(engine, "eng-2026", "olga", OSCAR, T0 + timedelta(days=1))
    assert remove_operator(engine, "eng-2026", "olga", "oscar", T0 + timedelta(days=2))

    assert _ids(ledger) == ["olga"]
    assert not rosters.is_operator(engine, "eng-2026", "oscar")
    assert rosters.programs_of(engine, email="oscar@example.org") == []
    with pytest.raises(NotOnRoster):
        admit(engine, "eng-2026", "oscar")
    gone = rosters.operators(engine, "eng-2026", removed=True)[1]
    assert (gone.operator_id, gone.removed_by, gone.removed_at) == (
        "oscar",
        "olga",
        T0 + timedelta(days=2),
    )
    assert not remove_operator(engine, "eng-2026", "olga", "oscar", T0), "not on it any more"


def test_the_last_operator_stays(ledger: Ledger) -> None:
    engine = ledger.engine
    admit_starter(engine, "eng-2026", OPS, T0)
    with pytest.raises(rosters.LastOperator, match="olga is the last operator of program"):
        remove_operator(engine, "eng-2026", "olga", "olga", T0)
    assert _ids(ledger) == ["olga"]
    add_operator(engine, "eng-2026", "olga", OSCAR, T0)
    assert remove_operator(engine, "eng-2026", "oscar", "olga", T0), "one may remove another"
    with pytest.raises(NotOnRoster):
        remove_operator(engine, "eng-2026", "olga", "oscar", T0)  # olga is off it now
    assert _ids(ledger) == ["oscar"]


def test_one_taken_off_is_put_back_by_adding_them_again(ledger: Ledger) -> None:
    engine = ledger.engine
    admit_starter(engine, "eng-2026", OPS, T0)
    add_operator(engine, "eng-2026", "olga", OSCAR, T0)
    remove_operator(engine, "eng-2026", "olga", "oscar", T0 + timedelta(days=1))
    assert add_operator(engine, "eng-2026", "olga", OSCAR, T0 + timedelta(days=3))
    assert not add_operator(engine, "eng-2026", "olga", OSCAR, T0 + timedelta(days=4))
    back = rosters.operators(engine, "eng-2026")[1]
    assert (back.operator_id, back.removed_at, back.added_at) == (
        "oscar",
        None,
        T0 + timedelta(days=3),
    )
    assert back.email == "oscar@example.org"


def test_a_program_whose_operators_are_all_gone_is_not_open_to_a_starter(
    ledger: Ledger,
) -> None:
    """Removal never empties a roster, so `admit_starter` never hands a program over."""
    engine = ledger.engine
    admit_starter(engine, "eng-2026", OPS, T0)
    add_operator(engine, "eng-2026", "olga", OSCAR, T0)
    remove_operator(engine, "eng-2026", "oscar", "olga", T0)
    mallory = Participant(id="mallory", name="Mallory", email="mallory@example.org")
    with pytest.raises(NotOnRoster):
        admit_starter(engine, "eng-2026", mallory, T0)
