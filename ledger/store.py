"""The outcome ledger: a durable, append-only, hash-chained record of domain events.

Auditors read a relationship's history here long after Temporal has dropped the run, so the
ledger must outlive the workflow, survive activity retries without duplicating anything, and
show whether anyone edited it behind our back. One code path serves SQLite (the embedded
default) and PostgreSQL (when programs outgrow one machine).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import (
    Engine,
    Select,
    Table,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, RowMapping, make_url
from sqlalchemy.pool import StaticPool

from ledger import schema
from ledger.chain import (
    GENESIS_HASH,
    LedgerEntry,
    canonical_json,
    chain_hash,
    event_key,
    require_utc,
)
from ledger.seal import SealKeys, row_tag_input
from ledger.tables import (
    checkpoints_table,
    deliveries_table,
    events_table,
    refusals_table,
)
from ledger.verification import Problem, VerifyReport, walk_chain

__all__ = [
    "GENESIS_HASH",
    "Delivery",
    "EventCount",
    "Head",
    "IntegrityConflict",
    "Ledger",
    "LedgerEntry",
    "Problem",
    "StoredEntry",
    "VerifyReport",
    "canonical_json",
    "chain_hash",
    "event_key",
]

# 'sending' is a claim (only `claim_delivery` writes it); 'delivered' is final; 'expired' means
# the notification could no longer help when its turn came, so it was never sent.
DELIVERY_STATUSES = frozenset({"sending", "delivered", "failed", "expired"})
_REPORTED_STATUSES = ("delivered", "failed", "expired")
# What `claim_delivery` answers besides 'delivered' and 'expired'.
CLAIMED = "claimed"
BUSY = "busy"
# Arbitrary constant: every process migrating the same PostgreSQL database must agree on it.
_MIGRATION_LOCK_ID = 0x6D656E746F72  # "mentor"
_SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


# --------------------------------------------------------------------------- models


class StoredEntry(LedgerEntry):
    """An entry as the ledger holds it: chained to its predecessor and stamped on arrival."""

    prev_hash: str
    hash: str
    recorded_at: datetime
    seal_key: str | None = None
    seal: str | None = None

    @field_validator("recorded_at")
    @classmethod
    def _recorded_at_is_utc(cls, value: datetime) -> datetime:
        return require_utc(value, "recorded_at")


class Head(BaseModel):
    """A relationship's last recorded event: its number, hash and type."""

    model_config = ConfigDict(frozen=True)

    seq: int
    hash: str
    type: str


class Refusal(BaseModel):
    """Why the ledger refused a relationship's events, and since when: it is blocked."""

    model_config = ConfigDict(frozen=True)

    relationship_id: str
    program: str
    since: datetime
    reason: str


class Delivery(BaseModel):
    """Whether a notification reached a recipient, so retries skip what already arrived."""

    model_config = ConfigDict(frozen=True)

    key: str
    recipient: str
    channel: str
    status: str
    detail: str
    attempts: int
    updated_at: datetime


class DeliveryClaim(BaseModel):
    """The answer to "may I send this now?". `claimed`: yes, and no one else may until the
    claim is finished or its lease runs out. `delivered`, `expired`: no, and never. `busy`: not
    now, another attempt has been sending it since `since`. `taken_over` says the claim was
    left by a sender that died mid-send, so the message may already have arrived once."""

    model_config = ConfigDict(frozen=True)

    state: str
    attempts: int = 0
    since: datetime | None = None
    taken_over: bool = False


class EventCount(BaseModel):
    """How often each event type occurs in a program: the raw material of outcome reports."""

    model_config = ConfigDict(frozen=True)

    program: str
    type: str
    count: int


# --------------------------------------------------------------------------- schema


_EV = events_table.c
_RF = refusals_table.c
_DL = deliveries_table.c


# --------------------------------------------------------------------------- engines


def _normalise_url(raw: str) -> URL:
    """`postgresql://` would pick psycopg2, which we do not ship; psycopg 3 is the driver."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _switch_to_wal(dbapi_connection: sqlite3.Connection) -> None:
    """Switching a fresh file to WAL needs an exclusive lock and, unlike ordinary statements,
    fails at once instead of waiting, so workers opening a new ledger together must retry."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL").close()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Take BEGIN away from the sqlite3 driver (it skips it for reads and DDL) and use WAL so
    readers never block the single writer."""
    dbapi_connection.isolation_level = None
    _switch_to_wal(dbapi_connection)


def _sqlite_on_begin(conn: Connection) -> None:
    """Writers start with the write lock held: a deferred transaction that reads then writes
    fails at once with 'database is locked' when another writer got there first."""
    immediate = conn.get_execution_options().get("ledger_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        # One shared connection, or every checkout would see a fresh empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_SECONDS})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _make_engine(raw: str) -> Engine:
    url = _normalise_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ValueError(
        f"unsupported ledger URL {url.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/ledger.db or postgresql+psycopg://user@host/db"
    )


def _dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """ON CONFLICT lives in the dialect modules; both spell it the same way."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# --------------------------------------------------------------------------- append helpers


class IntegrityConflict(ValueError):
    """The ledger cannot take these events as they are, and retrying will not change that:
    a predecessor is missing, or a key already holds a different event."""


class _Link(NamedTuple):
    hash: str
    program: str


def _describe(entry: LedgerEntry) -> str:
    return f"event {entry.seq} ({entry.key}) of relationship {entry.relationship_id}"


def _unique_batch(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """Repeats inside one batch are harmless; two different events for one slot are a bug."""
    by_key: dict[str, LedgerEntry] = {}
    by_slot: dict[tuple[str, int], LedgerEntry] = {}
    for entry in entries:
        seen = by_key.get(entry.key)
        if seen is not None and seen != entry:
            raise ValueError(f"{entry.key} appears twice in one batch with different content")
        slot = (entry.relationship_id, entry.seq)
        other = by_slot.get(slot)
        if other is not None and other.key != entry.key:
            raise ValueError(
                f"relationship {entry.relationship_id} has two events numbered {entry.seq} "
                f"in one batch ({other.key} and {entry.key})"
            )
        by_key[entry.key] = by_slot[slot] = entry
    return sorted(by_key.values(), key=lambda e: (e.relationship_id, e.seq))


def _missing_links(batch: Sequence[LedgerEntry]) -> list[tuple[str, int]]:
    """Predecessors that the batch itself does not supply and must come from the store."""
    in_batch = {(e.relationship_id, e.seq) for e in batch}
    wanted = {(e.relationship_id, e.seq - 1) for e in batch if e.seq > 1}
    return sorted(wanted - in_batch)


def _previous_hash(entry: LedgerEntry, links: dict[tuple[str, int], _Link]) -> str:
    if entry.seq == 1:
        return GENESIS_HASH
    link = links.get((entry.relationship_id, entry.seq - 1))
    if link is None:
        raise IntegrityConflict(
            f"cannot append {_describe(entry)}: event {entry.seq - 1} of that relationship is "
            "not in the ledger; append events in order, without gaps"
        )
    if link.program != entry.program:
        raise IntegrityConflict(
            f"cannot append {_describe(entry)}: the relationship belongs to program "
            f"{link.program!r}, not {entry.program!r}"
        )
    return link.hash


def _chain_rows(
    batch: Sequence[LedgerEntry],
    links: dict[tuple[str, int], _Link],
    recorded_at: datetime,
    keys: SealKeys | None,
) -> list[dict[str, Any]]:
    """`batch` is sorted by (relationship, seq), so each predecessor is linked before use."""
    rows: list[dict[str, Any]] = []
    for entry in batch:
        prev_hash = _previous_hash(entry, links)
        digest = chain_hash(prev_hash, entry)
        links[(entry.relationship_id, entry.seq)] = _Link(digest, entry.program)
        row = entry.model_dump()
        row.update(
            payload=canonical_json(entry.payload),
            prev_hash=prev_hash,
            hash=digest,
            recorded_at=recorded_at,
            seal_key=None,
            seal=None,
        )
        if keys is not None:
            tagged = row_tag_input(entry.relationship_id, entry.seq, digest)
            row["seal_key"], row["seal"] = keys.sign(tagged)
        rows.append(row)
    return rows


def _conflict(row: dict[str, Any], stored: RowMapping | None) -> str | None:
    """A skipped row is fine only if the stored one is the very same event."""
    if stored is None:
        return (
            f"cannot append event {row['seq']} ({row['key']}) of relationship "
            f"{row['relationship_id']}: that relationship already has a different event "
            f"numbered {row['seq']}"
        )
    if stored["hash"] != row["hash"]:
        return (
            f"cannot append {row['key']}: the ledger already holds an event with that key "
            "and different content; recorded events never change, so append a new event"
        )
    return None


# --------------------------------------------------------------------------- verify helpers


def _entry_from_row(row: RowMapping) -> StoredEntry:
    """Raises ValueError when the stored row no longer parses (e.g. hand-edited JSON)."""
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return StoredEntry.model_validate(data)


# --------------------------------------------------------------------------- the ledger


class Ledger:
    """Synchronous on purpose: activities call it from a thread, and SQLAlchemy's sync API is
    the one both drivers support fully."""

    def __init__(self, engine: Engine, seal: SealKeys | None = None) -> None:
        self._engine = engine
        self.seal = seal

    @classmethod
    def from_url(cls, url: str, seal: SealKeys | None = None) -> Ledger:
        """Ready to use: the SQLite folder exists and the schema is current. With `seal`,
        every appended row is sealed under its active key."""
        ledger = cls(_make_engine(url), seal)
        ledger.migrate()
        return ledger

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()

    @property
    def engine(self) -> Engine:
        return self._engine

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction that holds the write lock from its first statement on SQLite."""
        with self._engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    def _fetch(self, query: Select[Any]) -> list[RowMapping]:
        with self._engine.connect() as conn:
            return list(conn.execute(query).mappings())

    # ----------------------------------------------------------------- schema

    def migrate(self) -> None:
        """Several workers may start at once; the lock (advisory on PostgreSQL, the write lock
        on SQLite) makes the second one find the work done. A current database costs one read."""
        if self.schema_revision() == schema.HEAD:
            return
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            schema.upgrade(conn)

    def schema_revision(self) -> str | None:
        """The Alembic revision the database stands at; None before the first migration."""
        with self._engine.connect() as conn:
            return schema.current_revision(conn)

    # ----------------------------------------------------------------- events

    def append(self, entries: Sequence[LedgerEntry]) -> int:
        """Returns how many events were new. Re-appending an identical event is a no-op, so
        activity retries and racing workers are safe; a different event under a used key or
        number is refused, because recorded history never changes."""
        from ledger import projection  # not at the top: reading the ledger needs no fold

        batch = _unique_batch(entries)
        if not batch:
            return 0
        try:
            with self._write() as conn:
                links = self._stored_links(conn, _missing_links(batch))
                rows = _chain_rows(batch, links, datetime.now(UTC), self.seal)
                inserted = self._insert_new(conn, rows)
                self._refuse_conflicts(conn, [r for r in rows if r["key"] not in inserted])
                projection.advance(conn, [r for r in rows if r["key"] in inserted])
                ids = sorted({e.relationship_id for e in batch})
                conn.execute(delete(refusals_table).where(_RF.relationship_id.in_(ids)))
        except IntegrityConflict as err:
            self._note_refusal(batch, str(err))
            raise
        return len(inserted)

    def _note_refusal(self, batch: Sequence[LedgerEntry], reason: str) -> None:
        """In its own transaction, since the refused one rolled back; the first refusal's
        moment stays, so `since` says how long the relationship has been stuck."""
        values = {e.relationship_id: e.program for e in batch}
        rows = [
            {
                "relationship_id": rid,
                "program": program,
                "since": datetime.now(UTC),
                "reason": reason,
            }
            for rid, program in values.items()
        ]
        with self._write() as conn:
            stmt = _dialect_insert(conn, refusals_table)
            update = {"reason": stmt.excluded.reason}
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["relationship_id"], set_=update), rows
            )

    def refusals(self) -> dict[str, Refusal]:
        """Relationships whose last append the ledger refused, by id."""
        return {
            r["relationship_id"]: Refusal.model_validate(dict(r))
            for r in self._fetch(select(refusals_table))
        }

    def _stored_links(
        self, conn: Connection, slots: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], _Link]:
        if not slots:
            return {}
        query = select(_EV.relationship_id, _EV.seq, _EV.hash, _EV.program).where(
            tuple_(_EV.relationship_id, _EV.seq).in_(slots)
        )
        return {(r.relationship_id, r.seq): _Link(r.hash, r.program) for r in conn.execute(query)}

    def _insert_new(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
        """ON CONFLICT DO NOTHING covers both the key and the (relationship, seq) slot; on
        PostgreSQL a racing insert waits for the other transaction instead of failing."""
        stmt = _dialect_insert(conn, events_table).on_conflict_do_nothing().returning(_EV["key"])
        return set(conn.execute(stmt, list(rows)).scalars())

    def _refuse_conflicts(self, conn: Connection, skipped: Sequence[dict[str, Any]]) -> None:
        if not skipped:
            return
        keys = [row["key"] for row in skipped]
        query = select(_EV["key"], _EV.hash).where(_EV["key"].in_(keys))
        stored = {r["key"]: r for r in conn.execute(query).mappings()}
        for row in skipped:
            problem = _conflict(row, stored.get(row["key"]))
            if problem is not None:
                raise IntegrityConflict(problem)

    def events(self, relationship_id: str, *, until: datetime | None = None) -> list[StoredEntry]:
        """`until` rebuilds state as of a past moment: later events are left out."""
        query = select(events_table).where(_EV.relationship_id == relationship_id)
        if until is not None:
            query = query.where(_EV.occurred_at <= require_utc(until, "until"))
        return [_entry_from_row(r) for r in self._fetch(query.order_by(_EV.seq))]

    def hash_of(self, key: str) -> str | None:
        """The stored hash of one event: the chain head the workflow checks after a write."""
        with self._engine.connect() as conn:
            found = conn.execute(select(_EV.hash).where(_EV["key"] == key)).scalar()
        return None if found is None else str(found)

    def last_seq(self, relationship_id: str) -> int:
        """Lets a caller that lost its counter continue the sequence instead of guessing."""
        query = select(func.max(_EV.seq)).where(_EV.relationship_id == relationship_id)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def relationship_ids(self, program: str | None = None) -> list[str]:
        query = select(_EV.relationship_id).distinct().order_by(_EV.relationship_id)
        if program is not None:
            query = query.where(_EV.program == program)
        return [r["relationship_id"] for r in self._fetch(query)]

    def programs(self) -> list[str]:
        query = select(_EV.program).distinct().order_by(_EV.program)
        return [r["program"] for r in self._fetch(query)]

    def program_events(self, program: str) -> list[StoredEntry]:
        query = (
            select(events_table)
            .where(_EV.program == program)
            .order_by(_EV.relationship_id, _EV.seq)
        )
        return [_entry_from_row(r) for r in self._fetch(query)]

    def event_counts(self, program: str | None = None) -> list[EventCount]:
        """Outcome reports count event types (e.g. Concluded) without loading every payload."""
        query = (
            select(_EV.program, _EV.type, func.count().label("count"))
            .group_by(_EV.program, _EV.type)
            .order_by(_EV.program, _EV.type)
        )
        if program is not None:
            query = query.where(_EV.program == program)
        return [EventCount.model_validate(dict(r)) for r in self._fetch(query)]

    def heads(self, relationship_ids: Sequence[str] | None = None) -> dict[str, Head]:
        """Each relationship's last event: what a checkpoint signs."""
        last = (
            select(_EV.relationship_id, func.max(_EV.seq).label("seq"))
            .group_by(_EV.relationship_id)
            .subquery()
        )
        query = select(_EV.relationship_id, _EV.seq, _EV.hash, _EV.type).join(
            last, (last.c.relationship_id == _EV.relationship_id) & (last.c.seq == _EV.seq)
        )
        if relationship_ids is not None:
            query = query.where(_EV.relationship_id.in_(list(relationship_ids)))
        return {
            r["relationship_id"]: Head(seq=r["seq"], hash=r["hash"], type=r["type"])
            for r in self._fetch(query)
        }

    def rebuild_summaries(self, progress: Callable[[int], None] | None = None) -> int:
        """Fold every relationship again from its events, a chunk per transaction so workers
        appending meanwhile wait a moment at most; each chunk reads its events afresh."""
        from ledger import projection

        written = 0
        for chunk in projection.chunks(self.relationship_ids()):
            with self._write() as conn:
                written += projection.rebuild_relationships(conn, chunk)
            if progress is not None:
                progress(len(chunk))
        return written

    def witness_checkpoint(self, number: int, digest: str, written_at: datetime) -> None:
        values = {"number": number, "digest": digest, "written_at": written_at}
        with self._write() as conn:
            stmt = _dialect_insert(conn, checkpoints_table).values(values)
            conn.execute(stmt.on_conflict_do_nothing())

    def witnessed_checkpoints(self) -> dict[int, str]:
        """Checkpoint number -> digest, as the database saw them written."""
        query = select(checkpoints_table.c.number, checkpoints_table.c.digest)
        return {r["number"]: r["digest"] for r in self._fetch(query)}

    def raw_rows(self, relationship_id: str) -> list[RowMapping]:
        """Rows as stored, unparsed, so a damaged row is a finding rather than a crash."""
        query = select(events_table).where(_EV.relationship_id == relationship_id).order_by(_EV.seq)
        return self._fetch(query)

    def verify(self, relationship_id: str) -> VerifyReport:
        """Reads raw rows rather than models so that a row too damaged to parse is reported
        as a finding instead of crashing the audit."""
        problem, checked = walk_chain(self.raw_rows(relationship_id))
        return VerifyReport(
            relationship_id=relationship_id, ok=problem is None, checked=checked, problem=problem
        )

    # ----------------------------------------------------------------- deliveries

    def record_delivery(
        self, key: str, recipient: str, channel: str, status: str, detail: str = ""
    ) -> None:
        """A late 'failed' from a retry must not hide that the message already arrived, so a
        'delivered' row is final, and an 'expired' one gives way only to 'delivered'; the
        condition sits inside the upsert to stay race-free."""
        if status not in _REPORTED_STATUSES:
            raise ValueError(
                "delivery status must be 'delivered' or 'failed' (or 'expired' for a "
                f"notification past its expiry), not {status!r}"
            )
        values = {
            "key": key,
            "recipient": recipient,
            "channel": channel,
            "status": status,
            "detail": detail,
            "attempts": 1,
            "updated_at": datetime.now(UTC),
        }
        with self._write() as conn:
            stmt = _dialect_insert(conn, deliveries_table).values(values)
            new = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=[_DL["key"], _DL.recipient],
                set_={
                    "channel": new.channel,
                    "status": new.status,
                    "detail": new.detail,
                    "attempts": _DL.attempts + 1,
                    "updated_at": new.updated_at,
                },
                where=(_DL.status != "delivered")
                & ((_DL.status != "expired") | (new.status == "delivered")),
            )
            conn.execute(stmt)

    def claim_delivery(
        self,
        key: str,
        recipient: str,
        channel: str,
        *,
        token: str,
        now: datetime,
        stale_before: datetime,
        expires_at: datetime | None = None,
    ) -> DeliveryClaim:
        """Take the right to send `key` to `recipient`: one live claim at a time, across every
        worker sharing this ledger. The claim is a 'sending' row dated `now` whose detail is
        the caller's `token`; a 'sending' row dated before `stale_before` was left by a sender
        that died mid-send (its lease ran out) and is taken over. Past `expires_at` the row
        becomes 'expired' instead and nothing may be sent. No schema change: `updated_at`
        dates the claim and `detail` names its holder."""
        now = require_utc(now, "now")
        expired = expires_at is not None and now >= require_utc(expires_at, "expires_at")
        gone = f"not sent: it expired at {expires_at.isoformat()}" if expires_at else ""
        fresh = {
            "key": key,
            "recipient": recipient,
            "channel": channel,
            "status": "expired" if expired else "sending",
            "detail": gone if expired else token,
            "attempts": 0 if expired else 1,
            "updated_at": now,
        }
        where = (_DL["key"] == key, _DL.recipient == recipient)
        with self._write() as conn:
            # ON CONFLICT DO NOTHING waits for a racing insert on PostgreSQL; on SQLite the
            # write lock is held from BEGIN, so the read below cannot be overtaken either.
            insert_new = _dialect_insert(conn, deliveries_table).values(fresh)
            inserted = conn.execute(insert_new.on_conflict_do_nothing().returning(_DL.status))
            if inserted.first() is not None:
                if expired:
                    return DeliveryClaim(state="expired", since=now)
                return DeliveryClaim(state=CLAIMED, attempts=1, since=now)
            query = select(_DL.status, _DL.attempts, _DL.updated_at).where(*where)
            row = conn.execute(query.with_for_update()).mappings().one()
            status, attempts, since = str(row["status"]), int(row["attempts"]), row["updated_at"]
            if status in ("delivered", "expired"):
                return DeliveryClaim(state=status, attempts=attempts, since=since)
            if status == "sending" and since > require_utc(stale_before, "stale_before"):
                return DeliveryClaim(state=BUSY, attempts=attempts, since=since)
            change = deliveries_table.update().where(*where)
            if expired:
                conn.execute(change.values(status="expired", detail=gone, updated_at=now))
                return DeliveryClaim(state="expired", attempts=attempts, since=now)
            conn.execute(
                change.values(
                    channel=channel,
                    status="sending",
                    detail=token,
                    attempts=attempts + 1,
                    updated_at=now,
                )
            )
        return DeliveryClaim(
            state=CLAIMED, attempts=attempts + 1, since=now, taken_over=status == "sending"
        )

    def finish_delivery(
        self, key: str, recipient: str, token: str, status: str, detail: str = ""
    ) -> bool:
        """End the claim `token` names. 'delivered' always lands (a late success is still a
        success); 'failed' only while the claim is still that one, so an attempt that outlived
        its lease never frees the claim of the attempt that took over. True if it landed."""
        if status not in ("delivered", "failed"):
            raise ValueError(f"a claim ends 'delivered' or 'failed', not {status!r}")
        values = {"status": status, "detail": detail, "updated_at": datetime.now(UTC)}
        where = [_DL["key"] == key, _DL.recipient == recipient]
        if status == "delivered":
            where.append(_DL.status != "delivered")
        else:
            where += [_DL.status == "sending", _DL.detail == token]
        with self._write() as conn:
            changed = conn.execute(deliveries_table.update().where(*where).values(values))
            return bool(changed.rowcount)

    def delivery_status(self, key: str, recipient: str) -> str | None:
        query = select(_DL.status).where(_DL["key"] == key, _DL.recipient == recipient)
        with self._engine.connect() as conn:
            status = conn.execute(query).scalar()
        return None if status is None else str(status)

    def deliveries(self, key: str) -> list[Delivery]:
        query = select(deliveries_table).where(_DL["key"] == key).order_by(_DL.recipient)
        return [Delivery.model_validate(dict(r)) for r in self._fetch(query)]
