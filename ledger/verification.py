"""What `audit verify` can say about a relationship's rows, and how it tells.

Three verdicts, because an auditor acts differently on each:
- altered: an event is not what was recorded (content, link, seal, or what a checkpoint
  signed), named by its number;
- missing: events that were recorded are gone, a range in the middle or the tail (the tail
  shows against the newest signed checkpoint);
- unreadable: a row this version of the code cannot load or check (written by a newer
  release, or sealed with a key not configured here), which is not evidence of tampering.
Pure: rows in, findings out, so the same checks serve the CLI, tests and exports.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledger.chain import GENESIS_HASH, LedgerEntry, chain_hash
from ledger.seal import SealKeyError, SealKeys, row_tag_input

Row = Mapping[Any, Any]  # a stored row, by column name
TERMINAL_TYPES = frozenset({"Concluded"})


class Verdict(StrEnum):
    INTACT = "intact"
    UNREADABLE = "unreadable"
    MISSING = "missing"
    ALTERED = "altered"

    @property
    def severity(self) -> int:
        return list(Verdict).index(self)


class Problem(BaseModel):
    """One finding, worded for an auditor rather than a developer."""

    model_config = ConfigDict(frozen=True)

    seq: int | None
    key: str | None
    reason: str
    verdict: Verdict = Verdict.ALTERED


class Anchor(BaseModel):
    """The newest signed head of a relationship, from the checkpoint log."""

    model_config = ConfigDict(frozen=True)

    checkpoint: int
    seq: int
    hash: str
    terminal: bool


class VerifyReport(BaseModel):
    """`checked` counts the events found intact before the first problem (all of them if ok).
    `problem` is the most serious finding; `findings` all of them."""

    model_config = ConfigDict(frozen=True)

    relationship_id: str
    ok: bool
    checked: int
    problem: Problem | None
    findings: list[Problem] = Field(default_factory=list)
    sealed: bool = False  # its newest row carries a seal this process checked
    anchor: Anchor | None = None

    @property
    def verdict(self) -> Verdict:
        return self.problem.verdict if self.problem else Verdict.INTACT


def label(row: Row) -> str:
    return f"event {row['seq']} ({row['key']})"


def report(
    relationship_id: str, checked: int, findings: list[Problem], **extra: Any
) -> VerifyReport:
    worst = max(findings, key=lambda p: p.verdict.severity, default=None)
    return VerifyReport(
        relationship_id=relationship_id,
        ok=worst is None,
        checked=checked,
        problem=worst,
        findings=findings,
        **extra,
    )


# --------------------------------------------------------------------------- the chain


def walk_chain(rows: Sequence[Row]) -> tuple[Problem | None, int]:
    """The first break in numbering, links or content, and how many rows came before it."""
    prev: Row | None = None
    for index, row in enumerate(rows):
        problem = _check_row(row, index + 1, prev)
        if problem is not None:
            return problem, index
        prev = row
    return None, len(rows)


def _check_row(row: Row, expected_seq: int, prev: Row | None) -> Problem | None:
    """Order matters: a missing number explains more than a broken link, which in turn
    explains more than a content mismatch."""
    seq, key = row["seq"], row["key"]
    if seq != expected_seq:
        after = f"jumps from {label(prev)}" if prev is not None else "starts"
        gone = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
        noun = "event" if seq == expected_seq + 1 else "events"
        return Problem(
            seq=expected_seq,
            key=None,
            reason=f"{noun} {gone} {'is' if noun == 'event' else 'are'} missing: "
            f"the chain {after} to {label(row)}",
            verdict=Verdict.MISSING,
        )
    prev_hash = prev["hash"] if prev is not None else GENESIS_HASH
    if row["prev_hash"] != prev_hash:
        before = label(prev) if prev is not None else "the start of the chain"
        return Problem(
            seq=seq,
            key=key,
            reason=f"{label(row)} does not link to {before}: events were removed, "
            "reordered or rewritten",
        )
    return _check_content(row)


def _check_content(row: Row) -> Problem | None:
    try:
        data = {k: row[k] for k in LedgerEntry.model_fields}
        entry = LedgerEntry.model_validate({**data, "payload": json.loads(row["payload"])})
    except ValueError as exc:
        first_line = str(exc).splitlines()[0]
        reason = f"{label(row)} was altered and can no longer be read: {first_line}"
        return Problem(seq=row["seq"], key=row["key"], reason=reason)
    if chain_hash(row["prev_hash"], entry) != row["hash"]:
        reason = f"{label(row)} was altered: its hash does not match its content"
        return Problem(seq=row["seq"], key=row["key"], reason=reason)
    return None


# --------------------------------------------------------------------------- the seal


def check_seals(relationship_id: str, rows: Sequence[Row], keys: SealKeys) -> list[Problem]:
    """Every sealed row's tag, and no unsealed row after a sealed one (a stripped seal)."""
    problems: list[Problem] = []
    sealed_before = False
    for row in rows:
        if row.get("seal") is None:
            if sealed_before:
                problems.append(_problem(row, f"{label(row)} lost its seal: it was rewritten"))
                break
            continue
        sealed_before = True
        problem = _check_seal(relationship_id, row, keys)
        if problem is not None:
            problems.append(problem)
            if problem.verdict is Verdict.ALTERED:
                break
    return problems


def _check_seal(relationship_id: str, row: Row, keys: SealKeys) -> Problem | None:
    tagged = row_tag_input(relationship_id, row["seq"], row["hash"])
    try:
        if keys.check(row["seal_key"], tagged, row["seal"]):
            return None
    except SealKeyError as err:
        return _problem(row, f"{label(row)} cannot be checked: {err}", Verdict.UNREADABLE)
    return _problem(
        row,
        f"{label(row)} was altered: its seal does not match (rewritten and re-chained, moved "
        "from another relationship, or its key id changed)",
    )


def _problem(row: Row, reason: str, verdict: Verdict = Verdict.ALTERED) -> Problem:
    return Problem(seq=row["seq"], key=row["key"], reason=reason, verdict=verdict)


def newest_row_sealed(rows: Sequence[Row], keys: SealKeys | None) -> bool:
    return bool(rows) and keys is not None and rows[-1].get("seal") is not None


# --------------------------------------------------------------------------- the ending


def check_ending(rows: Sequence[Row], anchor: Anchor | None) -> list[Problem]:
    """Nothing follows a conclusion, and the newest signed head is still there."""
    problems: list[Problem] = []
    for row in rows[:-1]:
        if row["type"] in TERMINAL_TYPES:
            problems.append(_problem(row, f"events follow the conclusion at {label(row)}"))
    if anchor is not None:
        problems += _against_anchor(rows, anchor)
    return problems


def _against_anchor(rows: Sequence[Row], anchor: Anchor) -> list[Problem]:
    last = rows[-1]["seq"] if rows else 0
    signed = f"checkpoint {anchor.checkpoint} signed event {anchor.seq}"
    if last < anchor.seq:
        gone = f"{last + 1}" if last + 1 == anchor.seq else f"{last + 1}..{anchor.seq}"
        ending = " (its conclusion among them)" if anchor.terminal else ""
        return [
            Problem(
                seq=last + 1,
                key=None,
                reason=f"events {gone} are missing from the tail{ending}: {signed}, "
                f"the ledger ends at {last}",
                verdict=Verdict.MISSING,
            )
        ]
    row = next(r for r in rows if r["seq"] == anchor.seq)
    if row["hash"] != anchor.hash:
        return [
            _problem(row, f"{label(row)} is not the event {signed.split(' signed ')[0]} signed")
        ]
    if anchor.terminal and last > anchor.seq:
        return [_problem(rows[-1], f"events follow the conclusion that {signed}")]
    return []


# --------------------------------------------------------------------------- together


def examine(
    relationship_id: str, rows: Sequence[Row], keys: SealKeys | None, anchor: Anchor | None
) -> VerifyReport:
    """Chain, seals, ending and anchor; missing ranges in the middle do not stop the rest."""
    findings: list[Problem] = []
    problem, checked = walk_chain(rows)
    if problem is not None:
        findings.append(problem)
        if problem.verdict is Verdict.MISSING:
            findings += _after_gap(rows, problem)
    if keys is not None:
        findings += check_seals(relationship_id, rows, keys)
    findings += check_ending(rows, anchor)
    return report(
        relationship_id,
        checked,
        _first_per_kind(findings),
        sealed=newest_row_sealed(rows, keys),
        anchor=anchor,
    )


def _after_gap(rows: Sequence[Row], gap: Problem) -> list[Problem]:
    """Past a missing range the rows still link among themselves; report what else broke."""
    assert gap.seq is not None
    rest = [r for r in rows if r["seq"] > gap.seq]
    findings = []
    for prev, row in itertools.pairwise(rest):
        if row["seq"] != prev["seq"] + 1:
            start = prev["seq"] + 1
            gone = f"{start}" if row["seq"] == start + 1 else f"{start}..{row['seq'] - 1}"
            findings.append(
                Problem(
                    seq=start,
                    key=None,
                    reason=f"events {gone} are missing",
                    verdict=Verdict.MISSING,
                )
            )
        elif row["prev_hash"] != prev["hash"] or _check_content(row) is not None:
            findings.append(_problem(row, f"{label(row)} was altered or does not link"))
            break
    return findings


def _first_per_kind(findings: list[Problem]) -> list[Problem]:
    """Every missing range, but only the first altered and unreadable event."""
    kept: list[Problem] = []
    seen: set[Verdict] = set()
    for finding in findings:
        if finding.verdict is Verdict.MISSING or finding.verdict not in seen:
            kept.append(finding)
            seen.add(finding.verdict)
    return kept
