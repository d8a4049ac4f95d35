"""The ledger's seal: HMAC-SHA256 tags, under keys held outside the database.

The hash chain (`ledger.chain`) links every event to the one before, but anyone who can write
the database can rewrite an event and recompute every later hash. The seal closes that: each
row carries `HMAC(key, JCS({relationship_id, seq, hash}))` and the id of the key. The row's
hash commits to its content and, through the chain, to every earlier row, so one valid tag
vouches for the whole prefix. The tagged object is RFC 8785 (JCS) JSON of three plain
values, so a verifier in any language reproduces it. Checkpoints of each relationship's head
(`ledger.checkpoints`) are signed the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785

from ledger.keys import BadKeys, create_secret_file, new_entry, parse_entries, read_secret_file

KEYS_VARIABLE = "MENTORFLOW_LEDGER_KEYS"
KEYS_FILE_VARIABLE = "MENTORFLOW_LEDGER_KEYS_FILE"
KEY_TOOL = "mentorflow ledger-key"


class SealKeyError(BadKeys):
    """The ledger keys are unusable, or a tag names a key this process does not hold."""


def tag_input(value: dict[str, Any]) -> bytes:
    return rfc8785.dumps(value)


@dataclass(frozen=True)
class SealKeys:
    """Named HMAC keys: the active one seals new rows, every listed one checks old ones."""

    active: str
    keys: dict[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise SealKeyError(
                f"the active ledger key '{self.active}' is not among the configured keys "
                f"({', '.join(self.keys)}); set MENTORFLOW_LEDGER_ACTIVE_KEY to one of them"
            )

    @classmethod
    def parse(cls, spec: str, active: str | None = None, source: str = KEYS_VARIABLE) -> SealKeys:
        try:
            keys = parse_entries(spec, source, KEY_TOOL)
        except BadKeys as err:
            raise SealKeyError(str(err)) from None
        return cls(active=active or next(iter(keys)), keys=keys)

    @property
    def ids(self) -> list[str]:
        return list(self.keys)

    def sign(self, value: dict[str, Any], key_id: str | None = None) -> tuple[str, str]:
        """(key id, hex tag) of `value` under the active key, or the one named."""
        key_id = key_id or self.active
        return key_id, self._tag(key_id, value)

    def check(self, key_id: str, value: dict[str, Any], tag: str) -> bool:
        """True when `tag` is right; raises `SealKeyError` for a key this process lacks."""
        return hmac.compare_digest(self._tag(key_id, value), tag)

    def holds(self, key_id: str) -> bool:
        return key_id in self.keys

    def _tag(self, key_id: str, value: dict[str, Any]) -> str:
        key = self.keys.get(key_id)
        if key is None:
            raise SealKeyError(
                f"sealed with ledger key '{key_id}', which is not configured here "
                f"(known: {', '.join(self.keys)}); add it to {KEYS_VARIABLE} to check it"
            )
        return hmac.new(key, tag_input(value), hashlib.sha256).hexdigest()


def row_tag_input(relationship_id: str, seq: int, row_hash: str) -> dict[str, Any]:
    return {"relationship_id": relationship_id, "seq": seq, "hash": row_hash}


def seal_keys_from(spec: str | None, keys_file: Path | None, active: str | None) -> SealKeys | None:
    """The configured keys, from the variable or the file; None when neither is set."""
    if spec is not None and keys_file is not None:
        raise SealKeyError(f"both {KEYS_VARIABLE} and {KEYS_FILE_VARIABLE} are set; keep one")
    if spec is not None:
        return SealKeys.parse(spec, active)
    if keys_file is not None and keys_file.exists():
        try:
            text = read_secret_file(keys_file, KEYS_FILE_VARIABLE)
        except BadKeys as err:
            raise SealKeyError(str(err)) from None
        return SealKeys.parse(text, active, source=f"{KEYS_FILE_VARIABLE} ({keys_file})")
    return None


def ensure_local_keys(path: Path) -> bool:
    """The embedded runtime's first start: a key file only this user can read. True if new."""
    return create_secret_file(path, new_entry("ledger-1") + "\n")
