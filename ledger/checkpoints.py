"""Signed checkpoints of every relationship's head, kept outside the ledger's database.

In the spirit of Certificate Transparency's signed tree heads: a checkpoint names, for each
relationship, its last event (number and hash) and whether that event ended it, and is
sealed with the ledger's keys. Checkpoints form a log of their own: each is numbered and
names the digest of the one before, and the database witnesses each number as it is
written. Deleting the newest events then shows against the newest checkpoint; a checkpoint
log rolled back or edited shows against its own chain and the database's witness.

The store is a folder by default (one file per checkpoint, created exclusively, never
rewritten); in production point it at storage that refuses overwrites and deletes (an object
store with object lock, a WORM volume), since whoever can delete files could roll it back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger.chain import GENESIS_HASH
from ledger.seal import SealKeyError, SealKeys
from ledger.store import Head, Ledger
from ledger.verification import TERMINAL_TYPES

_NAME = re.compile(r"^checkpoint-(\d{8})\.json$")


class SignedHead(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=1)
    hash: str
    terminal: bool = False


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1)
    written_at: datetime
    previous: str
    heads: dict[str, SignedHead]
    key_id: str
    signature: str

    def body(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"key_id", "signature"})

    @property
    def digest(self) -> str:
        """What the next checkpoint and the database's witness name this one by."""
        return hashlib.sha256(rfc8785.dumps(self.model_dump(mode="json"))).hexdigest()


class LogProblem(BaseModel):
    """Something wrong with the checkpoint log itself."""

    model_config = ConfigDict(frozen=True)

    number: int | None
    reason: str


class CheckpointLog(BaseModel):
    """The checkpoints as read and checked: the newest head each relationship was seen at."""

    model_config = ConfigDict(frozen=True)

    count: int
    newest: dict[str, tuple[int, SignedHead]]  # relationship -> (checkpoint number, head)
    problems: list[LogProblem]


def _signed(head: Head) -> SignedHead:
    return SignedHead(seq=head.seq, hash=head.hash, terminal=head.type in TERMINAL_TYPES)


class CheckpointStore:
    """A folder of checkpoint files, numbered from 1, each created exclusively."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _files(self) -> list[tuple[int, Path]]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            named = _NAME.match(path.name)
            if named:
                found.append((int(named.group(1)), path))
        return sorted(found)

    def write(
        self, ledger: Ledger, keys: SealKeys, relationship_ids: Iterable[str] | None = None
    ) -> Checkpoint | None:
        """Sign the heads of the given relationships (every one by default); None if the
        ledger holds none of them."""
        ids = list(relationship_ids) if relationship_ids is not None else None
        heads = {rid: _signed(h) for rid, h in ledger.heads(ids).items()}
        if not heads:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            files = self._files()
            number = files[-1][0] + 1 if files else 1
            previous = _read(files[-1][1]).digest if files else GENESIS_HASH
            checkpoint = _sign(keys, number, previous, heads)
            if self._create(number, checkpoint):
                break  # another writer took the number: sign the next one
        ledger.witness_checkpoint(number, checkpoint.digest, checkpoint.written_at)
        return checkpoint

    def _create(self, number: int, checkpoint: Checkpoint) -> bool:
        path = self.folder / f"checkpoint-{number:08d}.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as out:
            out.write(checkpoint.model_dump_json(indent=1))
            out.flush()
            os.fsync(out.fileno())
        return True

    def read(self, keys: SealKeys | None, witnessed: dict[int, str]) -> CheckpointLog:
        """Every checkpoint, checked: numbering, chain, signatures, the database's witness."""
        problems: list[LogProblem] = []
        newest: dict[str, tuple[int, SignedHead]] = {}
        previous = GENESIS_HASH
        files = self._files()
        for expected, (number, path) in enumerate(files, start=1):
            if number != expected:
                problems.append(LogProblem(number=expected, reason=_gap(expected, number)))
            try:
                checkpoint = _read(path)
            except (OSError, ValueError) as err:
                problems.append(
                    LogProblem(number=number, reason=f"{path.name}: unreadable ({err})")
                )
                continue
            problems += _check(checkpoint, number, previous, keys, witnessed)
            previous = checkpoint.digest
            for rid, head in checkpoint.heads.items():
                newest[rid] = (number, head)
        problems += _unwitnessed_tail(files, witnessed)
        return CheckpointLog(count=len(files), newest=newest, problems=problems)


def _gap(expected: int, number: int) -> str:
    return f"checkpoint {expected} is missing from the store (the next one is {number})"


def _check(
    checkpoint: Checkpoint,
    number: int,
    previous: str,
    keys: SealKeys | None,
    witnessed: dict[int, str],
) -> list[LogProblem]:
    problems = []
    if checkpoint.number != number:
        problems.append(
            LogProblem(
                number=number,
                reason=f"the file of checkpoint {number} holds checkpoint {checkpoint.number}: "
                "the store was rolled back or files were copied over",
            )
        )
    if checkpoint.previous != previous:
        problems.append(
            LogProblem(number=number, reason=f"checkpoint {number} does not follow the one before")
        )
    if number in witnessed and witnessed[number] != checkpoint.digest:
        problems.append(
            LogProblem(
                number=number,
                reason=f"checkpoint {number} is not the one the database saw written",
            )
        )
    if keys is not None:
        try:
            if not keys.check(checkpoint.key_id, checkpoint.body(), checkpoint.signature):
                problems.append(
                    LogProblem(number=number, reason=f"checkpoint {number}'s signature is wrong")
                )
        except SealKeyError as err:
            problems.append(LogProblem(number=number, reason=f"checkpoint {number}: {err}"))
    return problems


def _unwitnessed_tail(files: list[tuple[int, Path]], witnessed: dict[int, str]) -> list[LogProblem]:
    stored = {number for number, _ in files}
    gone = sorted(n for n in witnessed if n not in stored)
    if not gone:
        return []
    span = f"{gone[0]}" if len(gone) == 1 else f"{gone[0]}..{gone[-1]}"
    return [
        LogProblem(
            number=gone[0],
            reason=f"checkpoint(s) {span} were written (the database saw them) but are not in "
            "the store: it was rolled back",
        )
    ]


def _sign(keys: SealKeys, number: int, previous: str, heads: dict[str, SignedHead]) -> Checkpoint:
    unsigned = Checkpoint(
        number=number,
        written_at=datetime.now(UTC),
        previous=previous,
        heads=heads,
        key_id=keys.active,
        signature="",
    )
    key_id, signature = keys.sign(unsigned.body())
    return unsigned.model_copy(update={"key_id": key_id, "signature": signature})


def _read(path: Path) -> Checkpoint:
    try:
        return Checkpoint.model_validate(json.loads(path.read_text()))
    except ValidationError as err:
        raise ValueError(str(err).splitlines()[0]) from None
