"""Named secret keys written as `id:base64key` lists: the payload codec and the ledger's seal
read the same format, so one rotation procedure serves both.

Entries are separated by commas or lines and `#` starts a comment. The first entry (or the
one named active) signs or encrypts from now on; every listed key still checks or decrypts
what older ones wrote. Key material is never echoed in an error.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path

KEY_BYTES = (16, 24, 32)
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BadKeys(ValueError):
    """The key configuration is unusable; the message names the entry, never its secret."""


def parse_entries(spec: str, source: str, tool: str) -> dict[str, bytes]:
    """Key id -> key bytes, in the order listed. `tool` is the command that prints a key."""
    keys: dict[str, bytes] = {}
    entries = [e.strip() for line in spec.splitlines() for e in line.split("#")[0].split(",")]
    for number, entry in enumerate((e for e in entries if e), start=1):
        key_id, key = _parse_entry(entry, f"{source} entry {number}", tool)
        if key_id in keys:
            raise BadKeys(f"{source}: key id '{key_id}' is listed twice; ids are unique")
        keys[key_id] = key
    if not keys:
        raise BadKeys(
            f"{source} lists no keys; give at least one as id:base64key (`{tool}` prints one)"
        )
    return keys


def _parse_entry(entry: str, where: str, tool: str) -> tuple[str, bytes]:
    key_id, sep, encoded = entry.partition(":")
    key_id = key_id.strip()
    if not sep:
        raise BadKeys(f"{where} has no ':'; write each key as id:base64key")
    if not KEY_ID_PATTERN.match(key_id):
        # not echoed: a swapped entry (key:id) would put the key here
        raise BadKeys(
            f"{where}: the key id (before ':') must be 1-64 letters, digits, '.', '_' or '-'; "
            "write each key as id:base64key"
        )
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        reason = f"{where} (key '{key_id}') is not valid base64; `{tool}` prints one"
        raise BadKeys(reason) from None
    if len(key) not in KEY_BYTES:
        raise BadKeys(
            f"{where} (key '{key_id}') decodes to {len(key)} bytes; keys are 16, 24 or 32 bytes "
            "(32 recommended)"
        )
    return key_id, key


def check_key_id(key_id: str) -> str:
    if not KEY_ID_PATTERN.match(key_id):
        raise BadKeys(f"key id '{key_id}' must be 1-64 letters, digits, '.', '_' or '-'")
    return key_id


def new_entry(key_id: str) -> str:
    """A fresh 256-bit key as an `id:base64key` entry."""
    return f"{check_key_id(key_id)}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def read_secret_file(path: Path, variable: str) -> str:
    try:
        return path.read_text()
    except OSError as err:
        raise BadKeys(
            f"{variable}: cannot read {path} ({err.strerror}); check the path and its permissions"
        ) from None


def create_secret_file(path: Path, content: str) -> bool:
    """Write `content` to a new file only the owner can read; False if it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as out:
        out.write(content)
    return True
