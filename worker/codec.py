"""Payload encryption, so names, emails, notes and feedback never reach Temporal in clear text.

Every payload (workflow input, update arguments and results, activity data, query answers,
failure details) is sealed with AES-GCM under a named key before it leaves the process. The
key id travels in the payload's metadata, which is what makes rotation work: a new key
encrypts from now on, while histories written under the old ones still open as long as those
keys stay listed. Key material is held in memory only, never logged, never echoed in errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from ledger.keys import BadKeys, create_secret_file, new_entry, parse_entries, read_secret_file
from worker.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12  # 96 bits, random per payload: GCM's recommended nonce size
KEYS_VARIABLE = "MENTORFLOW_CODEC_KEYS"


class CodecKeyError(ValueError):
    """The key configuration is unusable; the message names the entry, never its secret."""


class UnknownKeyError(ValueError):
    """A payload was sealed with a key this process does not hold."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(
            f"payload is encrypted with key '{key_id}', which is not configured here "
            f"(known keys: {', '.join(known)}); add '{key_id}' to {KEYS_VARIABLE} "
            "(or the keys file) to read it, and keep old keys listed after a rotation"
        )
        self.key_id = key_id


class DecryptionError(ValueError):
    """A payload did not authenticate under the key its metadata names."""


@dataclass(frozen=True)
class KeyRing:
    """Named AES keys: one encrypts, all decrypt."""

    active: str
    keys: Mapping[str, AESGCM] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise CodecKeyError(
                f"the active key '{self.active}' is not among the configured keys "
                f"({', '.join(self.keys)}); set MENTORFLOW_CODEC_ACTIVE_KEY to one of them"
            )

    @property
    def ids(self) -> list[str]:
        return list(self.keys)

    @classmethod
    def parse(cls, spec: str, active: str | None = None, source: str = KEYS_VARIABLE) -> KeyRing:
        """Read `id:base64key` entries separated by commas or lines; `#` starts a comment."""
        try:
            raw = parse_entries(spec, source, "mentorflow codec-key")
        except BadKeys as err:
            raise CodecKeyError(str(err)) from None
        keys = {key_id: AESGCM(key) for key_id, key in raw.items()}
        return cls(active=active or next(iter(keys)), keys=keys)


def generate_key(key_id: str) -> str:
    """A fresh 256-bit key as an `id:base64key` entry."""
    try:
        return new_entry(key_id)
    except BadKeys as err:
        raise CodecKeyError(str(err)) from None


class EncryptionCodec(PayloadCodec):
    """AES-GCM per payload; the key id is also the associated data, so it cannot be swapped."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    @property
    def active_key(self) -> str:
        return self._keys.active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keys.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys.keys[key_id].encrypt(
            nonce, payload.SerializeToString(), key_id.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        """Open a sealed payload; one that was never encrypted passes through unchanged,
        so relationships started before encryption was switched on still read."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        key = self._keys.keys.get(key_id)
        if key is None:
            raise UnknownKeyError(key_id or "(none)", self._keys.ids)
        try:
            plain = key.decrypt(
                payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode()
            )
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"payload encrypted with key '{key_id}' does not authenticate: the key "
                f"configured as '{key_id}' is not the one that sealed it, or the payload was "
                "altered; check the key material listed under that id"
            ) from None
        opened = Payload()
        opened.ParseFromString(plain)
        return opened


def keyring_from(settings: Settings) -> KeyRing | None:
    """The configured keys, from MENTORFLOW_CODEC_KEYS or the file MENTORFLOW_CODEC_KEYS_FILE;
    None when neither is set (payloads then travel unencrypted)."""
    if settings.codec_keys is not None and settings.codec_keys_file is not None:
        raise CodecKeyError(
            "both MENTORFLOW_CODEC_KEYS and MENTORFLOW_CODEC_KEYS_FILE are set; keep one"
        )
    if settings.codec_keys is not None:
        return KeyRing.parse(settings.codec_keys.get_secret_value(), settings.codec_active_key)
    keys_file = settings.codec_keys_file
    if keys_file is None and settings.local_codec_keys_file.exists():
        keys_file = settings.local_codec_keys_file  # made by `mentorflow up` on first start
    if keys_file is not None:
        return KeyRing.parse(
            _read_secret_file(keys_file).get_secret_value(),
            settings.codec_active_key,
            source=f"MENTORFLOW_CODEC_KEYS_FILE ({keys_file})",
        )
    return None


def ensure_local_codec_key(settings: Settings) -> Path | None:
    """The embedded runtime encrypts by default: with no codec keys configured, the first
    `mentorflow up` writes one to the data folder (mode 0600). Returns the file if new."""
    if settings.codec_keys is not None or settings.codec_keys_file is not None:
        return None
    path = settings.local_codec_keys_file
    return path if create_secret_file(path, new_entry("codec-1") + "\n") else None


def _read_secret_file(path: Path) -> SecretStr:
    try:
        return SecretStr(read_secret_file(path, "MENTORFLOW_CODEC_KEYS_FILE"))
    except BadKeys as err:
        raise CodecKeyError(str(err)) from None


def codec_from(settings: Settings) -> EncryptionCodec | None:
    keys = keyring_from(settings)
    return EncryptionCodec(keys) if keys else None
