"""The relationship summary projection: one row per relationship, kept by the append itself.

`Ledger.append` advances the rows of the relationships it wrote in the same transaction, so a
summary never shows an event the ledger lacks, nor misses one it holds. Each row keeps the
fold's own state after its last event and continues from it with the same `mutate` the
workflow runs; a rebuild folds every relationship again from its events, which is what the
migration that created the table did and what `mentorflow audit rebuild` does.

An event the fold cannot take (a newer release's event type, a damaged row) never blocks the
append: the row stops at the event before and says why in `problem`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from ledger.chain import GENESIS_HASH, LedgerEntry
from ledger.records import UnreadableEvent, to_recorded
from ledger.tables import events_table, summaries_table
from mentorship.events import AtRiskRaised
from mentorship.fold import mutate
from mentorship.state import RelationshipState

_EV = events_table.c
_SM = summaries_table.c
# Relationships folded per transaction by a rebuild: small enough that workers appending
# meanwhile wait a moment at most, large enough that the transactions cost little.
REBUILD_CHUNK = 200
FOLD_ERRORS = (ValueError, KeyError, TypeError, ValidationError, UnreadableEvent)


@dataclass
class _Progress:
    """What the projection carries from one append to the next."""

    state: RelationshipState
    program: str
    at_risk_since: datetime | None = None
    ever_at_risk: bool = False
    last_hash: str = GENESIS_HASH
    last_type: str = ""
    last_event_at: datetime | None = None
    problem: str | None = None


def duration_days(state: RelationshipState) -> float | None:
    """Program days from start to conclusion; a demo's compressed seconds count as days."""
    if state.conclusion is None or state.conclusion.concluded_at is None:
        return None
    if state.started_at is None:
        return None
    elapsed = (state.conclusion.concluded_at - state.started_at).total_seconds()
    return elapsed * state.policy.time_scale / 86_400


# --------------------------------------------------------------------------- folding


def _entry(row: Mapping[Any, Any]) -> LedgerEntry:
    payload = row["payload"]
    return LedgerEntry.model_construct(
        relationship_id=row["relationship_id"],
        program=row["program"],
        seq=row["seq"],
        key=row["key"],
        type=row["type"],
        actor=row["actor"],
        occurred_at=row["occurred_at"],
        payload=json.loads(payload) if isinstance(payload, str) else payload,
    )


def _take(progress: _Progress, row: Mapping[Any, Any]) -> None:
    """Fold one stored row in place, noting when the relationship turned at risk."""
    recorded = to_recorded(_entry(row))
    state = progress.state
    was_at_risk = state.at_risk
    mutate(state, recorded)
    if isinstance(recorded.event, AtRiskRaised):
        progress.ever_at_risk = True
    if not state.at_risk or state.finished:
        progress.at_risk_since = None
    elif not was_at_risk:
        progress.at_risk_since = recorded.occurred_at
    progress.last_hash, progress.last_type = row["hash"], row["type"]
    progress.last_event_at = row["occurred_at"]


def _fold_rows(progress: _Progress, rows: Iterable[Mapping[Any, Any]]) -> _Progress:
    """Stops at the first row the fold cannot take, keeping the state of the one before."""
    for row in rows:
        if progress.problem is not None:
            break
        if progress.last_event_at is None:
            progress.last_event_at = row["occurred_at"]
        try:
            _take(progress, row)
        except FOLD_ERRORS as err:
            progress.problem = f"event {row['seq']} ({row['type']}) does not fold: {err}"
    return progress


def _fresh(relationship_id: str, program: str) -> _Progress:
    return _Progress(state=RelationshipState(id=relationship_id), program=program)


def _values(progress: _Progress) -> dict[str, Any]:
    s = progress.state
    meeting = None if s.finished else s.next_meeting
    return {
        "relationship_id": s.id,
        "program": progress.program,  # the ledger row's, which every read groups by
        "kind": s.kind.value,
        "topic": s.topic,
        "mentor": s.mentor.id if s.mentor else None,
        "mentee": s.mentee.id if s.mentee else None,
        "phase": s.phase.value,
        "outcome": s.outcome.value if s.outcome else None,
        "at_risk": s.at_risk and not s.finished,
        "at_risk_since": progress.at_risk_since,
        "ever_at_risk": progress.ever_at_risk,
        "next_meeting": meeting.scheduled_at if meeting else None,
        "meetings_held": s.meetings_held,
        "meetings_missed": s.meetings_missed,
        "loops_closed": s.loops_closed,
        "started_at": s.started_at,
        "concluded_at": s.conclusion.concluded_at if s.conclusion else None,
        "duration_days": duration_days(s),
        "time_scale": s.policy.time_scale,
        "last_seq": s.seq,
        "last_hash": progress.last_hash,
        "last_type": progress.last_type,
        "last_event_at": progress.last_event_at,
        "state": s.model_dump_json(),
        "problem": progress.problem,
    }


def _resumed(row: Mapping[Any, Any]) -> _Progress:
    return _Progress(
        state=RelationshipState.model_validate_json(row["state"]),
        program=row["program"],
        at_risk_since=row["at_risk_since"],
        ever_at_risk=bool(row["ever_at_risk"]),
        last_hash=row["last_hash"],
        last_type=row["last_type"],
        last_event_at=row["last_event_at"],
    )


# --------------------------------------------------------------------------- writing


@cache
def _upsert_statement(dialect_name: str) -> Executable:
    """Built once per dialect: building it costs more than the write itself."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(summaries_table)
    changed = {c.name: stmt.excluded[c.name] for c in summaries_table.c if not c.primary_key}
    upsert: Executable = stmt.on_conflict_do_update(
        index_elements=["relationship_id"], set_=changed
    )
    return upsert


def _upsert(conn: Connection, values: Sequence[dict[str, Any]]) -> None:
    if values:
        conn.execute(_upsert_statement(conn.dialect.name), values)


def _stored_events(conn: Connection, relationship_ids: Sequence[str]) -> Iterator[Any]:
    query = (
        select(events_table)
        .where(_EV.relationship_id.in_(list(relationship_ids)))
        .order_by(_EV.relationship_id, _EV.seq)
    )
    return iter(conn.execute(query).mappings())


def summary_row(rows: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    """The summary of one relationship's stored rows (in seq order, from its first)."""
    first = rows[0]
    return _values(_fold_rows(_fresh(first["relationship_id"], first["program"]), rows))


def _refolded(conn: Connection, relationship_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not relationship_ids:
        return []
    stored = _stored_events(conn, relationship_ids)
    grouped = groupby(stored, key=lambda r: r["relationship_id"])
    return [summary_row(list(group)) for _, group in grouped]


def advance(conn: Connection, appended: Sequence[Mapping[Any, Any]]) -> None:
    """Fold rows just appended (sorted by relationship and seq) into their summaries."""
    by_relationship = {
        rid: list(rows) for rid, rows in groupby(appended, key=lambda r: r["relationship_id"])
    }
    if not by_relationship:
        return
    query = select(summaries_table).where(_SM.relationship_id.in_(list(by_relationship)))
    stored = {r["relationship_id"]: r for r in conn.execute(query).mappings()}
    values, refold = [], []
    for rid, rows in by_relationship.items():
        progress = _continued(stored.get(rid), rows)
        if progress is None:
            refold.append(rid)
        else:
            values.append(_values(progress))
    _upsert(conn, values + _refolded(conn, refold))


def _continued(row: Mapping[Any, Any] | None, rows: list[Mapping[Any, Any]]) -> _Progress | None:
    """None when the summary cannot simply go on from where it stopped: then it is refolded."""
    first = rows[0]
    if row is None:
        if first["seq"] != 1:
            return None
        return _fold_rows(_fresh(first["relationship_id"], first["program"]), rows)
    if row["problem"] is not None or row["last_seq"] != first["seq"] - 1:
        return None
    try:
        progress = _resumed(row)
    except (ValueError, ValidationError):
        return None  # a state this release cannot read: the events still can
    return _fold_rows(progress, rows)


def rebuild_relationships(conn: Connection, relationship_ids: Sequence[str]) -> int:
    """Fold these relationships again from their events; returns how many were written."""
    values = _refolded(conn, relationship_ids)
    _upsert(conn, values)
    return len(values)


def recorded_ids(conn: Connection, program: str | None = None) -> list[str]:
    query = select(_EV.relationship_id).distinct().order_by(_EV.relationship_id)
    if program is not None:
        query = query.where(_EV.program == program)
    return list(conn.execute(query).scalars())


def chunks(ids: Sequence[str], size: int = REBUILD_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def rebuild_all(conn: Connection, progress: Callable[[int], None] | None = None) -> int:
    """Every summary folded again from the events, on one connection (the migration's)."""
    conn.execute(delete(summaries_table))
    written = 0
    for chunk in chunks(recorded_ids(conn)):
        written += rebuild_relationships(conn, chunk)
        if progress is not None:
            progress(len(chunk))
    return written
