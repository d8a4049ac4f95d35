"""The auditor's read side: a relationship's history, its state on any date, and proof.

Everything here reads the outcome ledger, never Temporal (except `execution_history`, which
engineers use to look at the current run): the ledger outlives every run, and folding it with
the same `replay` the workflow uses makes the audited state the live state, by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict
from temporalio.api.common.v1 import Payload, Payloads, SearchAttributes
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import DataConverter

from ledger.chain import chain_content
from ledger.checkpoints import CheckpointLog, CheckpointStore
from ledger.records import UnreadableEvent, recorded_events, to_recorded
from ledger.seal import SealKeys
from ledger.store import Ledger, StoredEntry
from ledger.verification import Anchor, Problem, Verdict, VerifyReport, examine, report
from mentorship.events import Recorded
from mentorship.fold import mutate, replay
from mentorship.narrative import narrate
from mentorship.state import RelationshipState

# --------------------------------------------------------------------------- history


def history(ledger: Ledger, relationship_id: str) -> list[Recorded]:
    """Every event of every run, in sequence. Raises LookupError for an unknown relationship."""
    records = recorded_events(ledger.events(relationship_id))
    if not records:
        raise LookupError(
            f"the ledger has no events for relationship {relationship_id!r}; check the id "
            "(ids look like program.mentee.mentor) and MENTORFLOW_LEDGER_URL"
        )
    return records


def sequence_gap(records: Sequence[Recorded]) -> str | None:
    """The first break in 1..N, worded for the reader; history is only whole without one."""
    expected = 1
    for rec in records:
        if rec.seq < expected:
            return f"event {rec.seq} appears twice (after event {expected - 1})"
        if rec.seq > expected:
            missing = (
                f"event {expected} is missing"
                if rec.seq == expected + 1
                else f"events {expected} to {rec.seq - 1} are missing"
            )
            return f"{missing}: the history jumps to event {rec.seq}"
        expected += 1
    return None


def state_as_of(ledger: Ledger, relationship_id: str, moment: datetime) -> RelationshipState:
    """The relationship as the `status` query would have shown it at `moment`: the fold of
    every event that had occurred by then. Raises LookupError before the relationship began,
    ValueError when the stored sequence is broken (`audit verify` names the event)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"moment {moment.isoformat()} has no time zone; give one, e.g. 2026-03-01T15:00Z"
        )
    records = recorded_events(ledger.events(relationship_id, until=moment))
    if not records:
        first = history(ledger, relationship_id)[0]
        raise LookupError(
            f"relationship {relationship_id} had not started by {moment.isoformat()}; "
            f"it started at {first.occurred_at.isoformat()}"
        )
    try:
        return replay(relationship_id, records)
    except ValueError as err:
        raise ValueError(
            f"cannot rebuild {relationship_id}: {err}; run `mentorflow audit verify "
            f"{relationship_id}` to find the damaged event"
        ) from err


def ledger_state(ledger: Ledger, relationship_id: str) -> RelationshipState:
    """The fold of everything the ledger holds, to set against the live workflow's state."""
    return replay(relationship_id, recorded_events(ledger.events(relationship_id)))


# --------------------------------------------------------------------------- verify


class Trust(BaseModel):
    """What a verification checks against beyond the rows: the keys and the checkpoint log."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    keys: SealKeys | None = None
    log: CheckpointLog | None = None

    def anchor(self, relationship_id: str) -> Anchor | None:
        if self.log is None or relationship_id not in self.log.newest:
            return None
        number, head = self.log.newest[relationship_id]
        return Anchor(checkpoint=number, seq=head.seq, hash=head.hash, terminal=head.terminal)


def trust_of(ledger: Ledger, store: CheckpointStore | None) -> Trust:
    log = store.read(ledger.seal, ledger.witnessed_checkpoints()) if store else None
    return Trust(keys=ledger.seal, log=log)


def verify(ledger: Ledger, relationship_id: str, trust: Trust | None = None) -> VerifyReport:
    """Numbering, links, content, seals and the newest signed head; then that the intact
    events still fold, so a row this version cannot read is told apart from tampering."""
    trust = trust or Trust(keys=ledger.seal)
    rows = ledger.raw_rows(relationship_id)
    anchor = trust.anchor(relationship_id)
    if not rows and anchor is None:
        missing = Problem(
            seq=None,
            key=None,
            reason=f"the ledger has no events for {relationship_id}",
            verdict=Verdict.MISSING,
        )
        return report(relationship_id, 0, [missing])
    found = examine(relationship_id, rows, trust.keys, anchor)
    if not found.ok:
        return found
    problem = _first_unfoldable(relationship_id, ledger.events(relationship_id))
    if problem is None:
        return found
    return report(relationship_id, (problem.seq or 1) - 1, [problem], sealed=found.sealed)


def verify_all(ledger: Ledger, trust: Trust | None = None) -> list[VerifyReport]:
    trust = trust or Trust(keys=ledger.seal)
    ids = set(ledger.relationship_ids())
    if trust.log is not None:
        ids |= set(trust.log.newest)  # a relationship whose every row was deleted
    return [verify(ledger, rid, trust) for rid in sorted(ids)]


def _first_unfoldable(relationship_id: str, entries: Iterable[StoredEntry]) -> Problem | None:
    """A row a newer release wrote is unreadable here; one that loads but cannot have
    happened (no such meeting, an event after the conclusion) was altered or written wrong."""
    state = RelationshipState(id=relationship_id)
    for entry in entries:
        try:
            recorded = to_recorded(entry)
        except UnreadableEvent as err:
            return _unfoldable(entry, "cannot be read by this version (not tampering)", err)
        try:
            # One working copy, mutated in place: `apply` copies the whole state per event,
            # which made verifying a 3-year relationship quadratic (over a second).
            mutate(state, recorded)
        except (ValueError, KeyError, LookupError, AssertionError) as err:
            return _unfoldable(
                entry, "does not fold into the state before it", err, Verdict.ALTERED
            )
    return None


def _unfoldable(
    entry: StoredEntry, what: str, err: Exception, verdict: Verdict = Verdict.UNREADABLE
) -> Problem:
    reason = f"event {entry.seq} ({entry.key}) {what}: {str(err).splitlines()[0]}"
    return Problem(seq=entry.seq, key=entry.key, reason=reason, verdict=verdict)


# --------------------------------------------------------------------------- live vs ledger


class Difference(BaseModel):
    """One top-level part of the state on which the live workflow and the ledger disagree."""

    model_config = ConfigDict(frozen=True)

    field: str
    live: Any
    ledger: Any


def differences(live: RelationshipState, audited: RelationshipState) -> list[Difference]:
    left, right = live.model_dump(mode="json"), audited.model_dump(mode="json")
    return [
        Difference(field=name, live=left.get(name), ledger=right.get(name))
        for name in sorted(set(left) | set(right))
        if left.get(name) != right.get(name)
    ]


# --------------------------------------------------------------------------- export


class ExportRow(BaseModel):
    """One event as a program export carries it: readable, and checkable against the chain."""

    model_config = ConfigDict(frozen=True)

    program: str
    relationship_id: str
    seq: int
    key: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    type: str
    cause: str
    sentence: str
    event: dict[str, Any]
    prev_hash: str
    hash: str
    hashed: str  # the exact text whose SHA-256, after prev_hash, is `hash`
    seal_key: str | None
    seal: str | None


def export_rows(ledger: Ledger, program: str) -> list[ExportRow]:
    entries = ledger.program_events(program)
    if not entries:
        known = ", ".join(ledger.programs()) or "none yet"
        raise LookupError(f"the ledger has no events for program {program!r}; programs: {known}")
    rows: list[ExportRow] = []
    for relationship in _by_relationship(entries):
        lines = narrate(to_recorded(e) for e in relationship)
        for entry, line in zip(relationship, lines, strict=True):
            rows.append(
                ExportRow(
                    program=entry.program,
                    relationship_id=entry.relationship_id,
                    seq=entry.seq,
                    key=entry.key,
                    occurred_at=entry.occurred_at,
                    recorded_at=entry.recorded_at,
                    actor=entry.actor,
                    type=entry.type,
                    cause=line.why,
                    sentence=line.sentence,
                    event=entry.payload.get("event", {}),
                    prev_hash=entry.prev_hash,
                    hash=entry.hash,
                    hashed=chain_content(entry),
                    seal_key=entry.seal_key,
                    seal=entry.seal,
                )
            )
    return rows


def _by_relationship(entries: Sequence[StoredEntry]) -> list[list[StoredEntry]]:
    groups: dict[str, list[StoredEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.relationship_id, []).append(entry)
    return list(groups.values())


# --------------------------------------------------------------------------- Temporal's log


class ExecutionEvent(BaseModel):
    """One event of Temporal's own history, payloads decoded for people to read."""

    model_config = ConfigDict(frozen=True)

    id: int
    time: datetime
    type: str
    details: dict[str, Any]


async def execution_history(client: Client, relationship_id: str) -> list[ExecutionEvent]:
    """The current run only: earlier runs live on in the ledger, which is the audit record.
    Payloads go through the client's data converter, so a payload codec set there is applied."""
    handle = client.get_workflow_handle(relationship_id)
    fetched = await handle.fetch_history()
    converter = client.data_converter
    return [
        ExecutionEvent(
            id=event.event_id,
            time=event.event_time.ToDatetime(tzinfo=UTC),
            type=_event_type(event.event_type),
            details=await _decode_attributes(event, converter),
        )
        for event in fetched.events
    ]


def _event_type(value: int) -> str:
    name = EventType.Name(EventType.ValueType(value)).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


async def _decode_attributes(event: HistoryEvent, converter: DataConverter) -> dict[str, Any]:
    which = event.WhichOneof("attributes")
    if which is None:
        return {}
    decoded = await _decode_message(getattr(event, which), converter)
    return decoded if isinstance(decoded, dict) else {"value": decoded}


async def _decode_message(msg: Message, converter: DataConverter, *, plain: bool = False) -> Any:
    """Walk a history message; payloads (values the workflow saw) are decoded, the rest kept.
    Search attributes are never codec-encoded, so they skip the codec (`plain`)."""
    if isinstance(msg, Payloads):
        return [await _decode_payload(p, converter, plain) for p in msg.payloads]
    if isinstance(msg, Payload):
        return await _decode_payload(msg, converter, plain)
    if isinstance(msg, Timestamp | Duration):
        return msg.ToJsonString()
    plain = plain or isinstance(msg, SearchAttributes)
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        out[field.name] = await _decode_field(field, value, converter, plain)
    return out


async def _decode_field(
    field: FieldDescriptor, value: Any, converter: DataConverter, plain: bool
) -> Any:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return _scalar(field, value)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        value_field = entry.fields_by_name["value"]
        return {k: await _decode_field(value_field, v, converter, plain) for k, v in value.items()}
    if field.is_repeated:
        return [await _decode_message(v, converter, plain=plain) for v in value]
    return await _decode_message(value, converter, plain=plain)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.is_repeated:
        return [_scalar_one(field, v) for v in value]
    return _scalar_one(field, value)


def _scalar_one(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number if field.enum_type else {}
        number = known.get(value)
        return number.name if number is not None else value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


async def _decode_payload(payload: Payload, converter: DataConverter, plain: bool) -> Any:
    """A payload that cannot be decoded is shown as such, never allowed to end the listing."""
    try:
        if plain:
            return converter.payload_converter.from_payloads([payload])[0]
        return (await converter.decode([payload]))[0]
    except Exception as err:  # any converter or codec failure is reported inline
        encoding = payload.metadata.get("encoding", b"?").decode(errors="replace")
        return f"<undecodable {encoding} payload: {err}>"
