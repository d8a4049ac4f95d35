"""The ledger's chain, pure: entries as they are hashed and the hash that links them.

Pure (no I/O) so that the workflow computes the head it expects the ledger to hold: a rule
change that would decide different events then fails replay instead of wedging production.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

GENESIS_HASH = "0" * 64


def require_utc(value: datetime, field: str) -> datetime:
    """Naive datetimes are ambiguous across hosts, and the hash must not depend on the host."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{field} must be timezone-aware (got {value.isoformat()}); add tzinfo=UTC"
        )
    return value.astimezone(UTC)


class LedgerEntry(BaseModel):
    """One domain event as the workflow decided it; everything here is covered by the hash."""

    model_config = ConfigDict(frozen=True)

    relationship_id: str = Field(min_length=1)
    program: str = Field(min_length=1)
    seq: int = Field(ge=1)
    key: str = Field(min_length=1)
    type: str = Field(min_length=1)
    actor: str = Field(min_length=1)
    occurred_at: datetime
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at_is_utc(cls, value: datetime) -> datetime:
        return require_utc(value, "occurred_at")

    @field_validator("payload")
    @classmethod
    def _payload_is_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            canonical_json(value)
        except (TypeError, ValueError) as exc:
            reason = f"payload must be plain JSON (objects, lists, text, numbers): {exc}"
            raise ValueError(reason) from exc
        return value


def event_key(relationship_id: str, seq: int) -> str:
    """Keys come from business identity so that retries and replays collide on purpose."""
    return f"{relationship_id}:{seq:06d}"


def canonical_json(value: Any) -> str:
    """One spelling per value, so the same event always hashes the same on any host."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _utc_text(value: datetime) -> str:
    """Fixed-width, always-microseconds, 'Z'-suffixed: the only time format that is hashed."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def chain_hash(prev_hash: str, entry: LedgerEntry) -> str:
    """Depends on the entry and its predecessor only, so a duplicate append yields the same row."""
    return hashlib.sha256((prev_hash + chain_content(entry)).encode("utf-8")).hexdigest()


def chain_content(entry: LedgerEntry) -> str:
    """The exact text hashed for an entry (after its predecessor's hash). Exports carry it, so
    a verifier in any language checks the hash without re-creating this spelling."""
    return canonical_json(
        {
            "relationship_id": entry.relationship_id,
            "program": entry.program,
            "seq": entry.seq,
            "key": entry.key,
            "type": entry.type,
            "actor": entry.actor,
            "occurred_at": _utc_text(entry.occurred_at),
            "payload": entry.payload,
        }
    )


def chain_head(prev_hash: str, entries: Iterable[LedgerEntry]) -> str:
    """The hash of the last of `entries` once appended after `prev_hash`."""
    head = prev_hash
    for entry in entries:
        head = chain_hash(head, entry)
    return head
