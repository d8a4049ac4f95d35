"""Domain events to ledger rows and back: the ledger stores what the fold needs to replay."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.store import LedgerEntry, StoredEntry
from mentorship.events import Recorded
from mentorship.participants import Actor, Role


def to_entry(recorded: Recorded) -> LedgerEntry:
    return LedgerEntry(
        relationship_id=recorded.relationship_id,
        program=recorded.program,
        seq=recorded.seq,
        key=recorded.key,
        type=recorded.event.type,
        actor=str(recorded.actor),
        occurred_at=recorded.occurred_at,
        payload={"cause": recorded.cause, "event": recorded.event.model_dump(mode="json")},
    )


def to_recorded(entry: LedgerEntry) -> Recorded:
    role, _, actor_id = entry.actor.partition(":")
    return Recorded.model_validate(
        {
            "relationship_id": entry.relationship_id,
            "program": entry.program,
            "seq": entry.seq,
            "occurred_at": entry.occurred_at,
            "actor": Actor(role=Role(role), id=actor_id),
            "cause": entry.payload.get("cause", ""),
            "event": entry.payload["event"],
        }
    )


def recorded_events(entries: Iterable[StoredEntry]) -> list[Recorded]:
    return [to_recorded(e) for e in entries]
