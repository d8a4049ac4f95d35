"""Domain events to ledger rows and back: the ledger stores what the fold needs to replay.

Rows are read as stored data, never as input: the event's payload type ignores fields it
does not know and defaults those it lacks, no business rule runs on it, and a row written
by an older version of an event type is upcast first. A row stores its event type's version
under "v" when it is above 1 (rows without it are version 1, as v0.1 wrote them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import TypeAdapter

from ledger.chain import LedgerEntry
from mentorship.events import Event, Recorded
from mentorship.participants import Actor
from mentorship.stored import STORED

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

# (event type, version it reads) -> the payload one version up. Add a step whenever an event
# type's `version` goes up; never edit a released step.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}

_EVENT_TYPES = {cls.model_fields["type"].default: cls for cls in Event.__args__[0].__args__}


class UnreadableEvent(ValueError):
    """A row this version cannot load: not tampering, but a newer release's event or shape."""


def version_of(event_type: str) -> int:
    cls = _EVENT_TYPES.get(event_type)
    return int(cls.version) if cls is not None else 0


def to_entry(recorded: Recorded) -> LedgerEntry:
    payload: Payload = {"cause": recorded.cause, "event": recorded.event.model_dump(mode="json")}
    version = type(recorded.event).version
    if version > 1:
        payload["v"] = version
    return LedgerEntry(
        relationship_id=recorded.relationship_id,
        program=recorded.program,
        seq=recorded.seq,
        key=recorded.key,
        type=recorded.event.type,
        actor=str(recorded.actor),
        occurred_at=recorded.occurred_at,
        payload=payload,
    )


def upcast(event_type: str, version: int, event: Payload) -> Payload:
    """The payload as the current version of its event type reads it."""
    current = version_of(event_type)
    if current == 0:
        raise UnreadableEvent(f"unknown event type {event_type!r}: written by a newer release?")
    if version > current:
        raise UnreadableEvent(
            f"{event_type} version {version} is newer than this release reads ({current})"
        )
    while version < current:
        event = UPCASTERS[(event_type, version)](dict(event))
        version += 1
    return event


def to_recorded(entry: LedgerEntry) -> Recorded:
    event = upcast(entry.type, int(entry.payload.get("v", 1)), entry.payload["event"])
    return _RECORDED.validate_python(
        {
            "relationship_id": entry.relationship_id,
            "program": entry.program,
            "seq": entry.seq,
            "occurred_at": entry.occurred_at,
            "actor": Actor.parse(entry.actor),
            "cause": entry.payload.get("cause", ""),
            "event": event,
        },
        extra="ignore",
        context=STORED,
    )


_RECORDED: TypeAdapter[Recorded] = TypeAdapter(Recorded)


def recorded_events(entries: Iterable[LedgerEntry]) -> list[Recorded]:
    return [to_recorded(e) for e in entries]
