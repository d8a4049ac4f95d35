"""Verify an `audit export --format jsonl` file with nothing but the Python standard library.

    python verify_export.py eng-2026.jsonl [--keys-file ledger.keys]

It imports nothing from mentorflow, so it can be copied to an auditor's machine as is, and it
is the specification for a verifier in any other language:
- rows of one relationship number 1, 2, 3... with no gap;
- each `hash` is SHA-256 (hex) of `prev_hash` followed by `hashed` (UTF-8), the first
  `prev_hash` is 64 zeros, each later one the previous row's `hash`;
- `hashed` is JSON whose relationship_id, program, seq, key, type and actor are the row's;
- with keys, `seal` is HMAC-SHA256 (hex), under the key named `seal_key`, of the RFC 8785
  JSON of {"hash": ..., "relationship_id": ..., "seq": ...} (for these plain values: keys
  sorted, no spaces). Keys are `id:base64key` entries, one per line or comma-separated.
Exit 0 intact, 6 altered, 7 missing, 8 a seal under a key not given. Events deleted from
the tail of an export leave no trace in it: `mentorflow audit verify` checks the ledger
against its signed checkpoints for that.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
IDENTITY = ("relationship_id", "program", "seq", "key", "type", "actor")
ALTERED, MISSING, UNREADABLE = 6, 7, 8
RANK = {0: 0, UNREADABLE: 1, MISSING: 2, ALTERED: 3}  # the worst finding sets the exit code


def read_keys(path: Path) -> dict[str, bytes]:
    keys = {}
    for entry in path.read_text().replace(",", "\n").splitlines():
        entry = entry.split("#")[0].strip()
        if entry:
            key_id, _, encoded = entry.partition(":")
            keys[key_id.strip()] = base64.b64decode(encoded.strip())
    return keys


def seal_of(key: bytes, row: dict[str, Any]) -> str:
    tagged = {"hash": row["hash"], "relationship_id": row["relationship_id"], "seq": row["seq"]}
    text = json.dumps(tagged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def check_row(
    row: dict[str, Any], prev_hash: str, keys: dict[str, bytes] | None
) -> tuple[int, str]:
    where = f"event {row['seq']} ({row['key']})"
    if row["prev_hash"] != prev_hash:
        return ALTERED, f"{where} does not link to the event before it"
    if hashlib.sha256((prev_hash + row["hashed"]).encode("utf-8")).hexdigest() != row["hash"]:
        return ALTERED, f"{where}: its hash does not match the hashed text"
    hashed = json.loads(row["hashed"])
    if any(hashed[name] != row[name] for name in IDENTITY):
        return ALTERED, f"{where}: the hashed text names another event"
    if keys is None or row.get("seal") is None:
        return 0, ""
    key = keys.get(row["seal_key"])
    if key is None:
        return UNREADABLE, f"{where} is sealed with key {row['seal_key']!r}, not given"
    if not hmac.compare_digest(seal_of(key, row), row["seal"]):
        return ALTERED, f"{where}: its seal does not match"
    return 0, ""


def check_relationship(
    rows: list[dict[str, Any]], keys: dict[str, bytes] | None
) -> tuple[int, str]:
    prev_hash = GENESIS
    for expected, row in enumerate(sorted(rows, key=lambda r: r["seq"]), start=1):
        if row["seq"] != expected:
            return MISSING, f"events {expected}..{row['seq'] - 1} are missing"
        code, reason = check_row(row, prev_hash, keys)
        if code:
            return code, reason
        prev_hash = row["hash"]
    return 0, f"{len(rows)} events intact"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a file from `audit export --format jsonl`")
    parser.add_argument("--keys-file", type=Path, help="the ledger keys, to check seals")
    args = parser.parse_args(argv)
    keys = read_keys(args.keys_file) if args.keys_file else None
    by_relationship: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in args.export.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_relationship[row["relationship_id"]].append(row)
    worst = 0
    for relationship_id, rows in sorted(by_relationship.items()):
        code, reason = check_relationship(rows, keys)
        verdict = {0: "intact", ALTERED: "ALTERED", MISSING: "MISSING"}.get(code, "UNREADABLE")
        print(f"{relationship_id}: {verdict}: {reason}")
        worst = max(worst, code, key=RANK.__getitem__)
    if keys is None:
        print("seals not checked: give --keys-file to check them")
    return worst


if __name__ == "__main__":
    sys.exit(main())
