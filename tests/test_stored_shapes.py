"""What was stored stays readable: ledger rows and carried state from earlier releases load.

The fixtures are rows as each release wrote them (`ledger_rows_vX_Y.jsonl`, together one per
event type), edited by hand the way time edits them: a field a later release added, a field
an earlier release did not have yet, and text or addresses today's input checks would refuse.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload

from ledger import records
from ledger.chain import LedgerEntry
from ledger.records import UnreadableEvent, to_entry, to_recorded, version_of
from mentorship import commands as c
from mentorship import events as ev
from mentorship.events import Event
from mentorship.fold import replay
from mentorship.revisions import ORIGINAL
from tests.factories import MENTOR, OPERATOR, Journey, mentor_feedback
from worker.temporal import data_converter
from workflows.contract import RelationshipInput, StatusView

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).parent / "replay" / "histories"
ALL_TYPES = {cls.model_fields["type"].default for cls in Event.__args__[0].__args__}  # type: ignore[attr-defined]


def v0_1_rows(release: str = "v0_1") -> list[LedgerEntry]:
    rows = []
    lines = (FIXTURES / f"ledger_rows_{release}.jsonl").read_text().splitlines()
    for seq, line in enumerate(lines, 1):
        row = json.loads(line)
        rows.append(
            LedgerEntry(
                relationship_id="fixture",
                program="eng-2026",
                seq=seq,
                key=f"fixture:{seq:06d}",
                type=row["type"],
                actor=row["actor"],
                occurred_at=datetime.fromisoformat(row["occurred_at"]),
                payload=row["payload"],
            )
        )
    return rows


def decode(type_hint: type, data: Any) -> Any:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode())
    return data_converter().payload_converter.from_payloads([payload], [type_hint])[0]


def test_every_event_type_as_its_release_stored_it_loads_in_this_release() -> None:
    rows = v0_1_rows() + v0_1_rows("v0_2") + v0_1_rows("v0_5")
    assert sorted(r.type for r in rows) == sorted(ALL_TYPES), "one fixture row per event type"
    for row in rows:
        loaded = to_recorded(row)
        assert loaded.event.type == row.type


def test_a_stored_event_never_reruns_a_business_rule() -> None:
    by_type = {r.type: r for r in v0_1_rows()}
    feedback = to_recorded(by_type["MentorFeedbackGiven"]).event
    assert isinstance(feedback, ev.MentorFeedbackGiven)
    assert feedback.strengths == ["Good job"], "vague by today's rule, and still readable"
    with pytest.raises(ValidationError, match="too vague"):
        c.GiveMentorFeedback(
            actor=MENTOR,
            loop_number=1,
            strengths=feedback.strengths,
            development_areas=mentor_feedback(1).development_areas,
        )
    started = to_recorded(by_type["RelationshipStarted"]).event
    assert isinstance(started, ev.RelationshipStarted)
    assert started.mentor.email == "alice@localhost", "refused as input, kept as recorded"
    assert started.policy.reminder_lead > started.policy.prep_lead
    assert started.topic == "", "a field v0.1 lacked takes its default"


def test_fields_a_later_release_adds_are_ignored_and_missing_ones_defaulted() -> None:
    by_type = {r.type: r for r in v0_1_rows()}
    raised = to_recorded(by_type["AtRiskRaised"]).event
    assert isinstance(raised, ev.AtRiskRaised) and raised.review_at is None
    decided = to_recorded(by_type["ReviewDecided"]).event
    assert isinstance(decided, ev.ReviewDecided) and decided.unanswered == []
    assert "added_by_a_later_release" not in decided.model_dump()


def test_a_row_round_trips_to_the_same_payload() -> None:
    for row in v0_1_rows():
        again = to_entry(to_recorded(row)).payload["event"]
        original = dict(row.payload["event"])
        original.pop("added_by_a_later_release")
        assert {k: v for k, v in again.items() if k in original} == original


def test_an_event_read_and_written_again_is_byte_for_byte_the_recorded_one() -> None:
    """Fields added later (a commitment's window, the agreed rhythm) stay out of the record
    while unset, so re-deciding an old event hashes as it was chained."""
    for row in v0_1_rows("v0_2"):
        original = {
            k: v for k, v in row.payload["event"].items() if k != "added_by_a_later_release"
        }
        again = to_entry(to_recorded(row)).payload["event"]
        assert again == original, row.type
    old_rules = Journey(rules=ORIGINAL)
    old_rules.onboard()
    signed = [to_entry(r).payload["event"] for r in old_rules.history]
    assert not [e for e in signed if "window" in e or "rhythm" in e]


def test_an_older_version_of_an_event_type_is_upcast_on_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Say ReminderSent v2 renames `to` to `recipients`: v1 rows are upcast, not rewritten."""

    class ReminderSentV2(ev.ReminderSent):
        version = 2

    row = next(r for r in v0_1_rows() if r.type == "ReminderSent")
    monkeypatch.setitem(records._EVENT_TYPES, "ReminderSent", ReminderSentV2)
    calls: list[dict[str, Any]] = []

    def v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload)
        return {**payload, "purpose": payload["purpose"] + " (upcast)"}

    monkeypatch.setitem(records.UPCASTERS, ("ReminderSent", 1), v1_to_v2)
    assert version_of("ReminderSent") == 2
    loaded = to_recorded(row).event
    assert isinstance(loaded, ev.ReminderSent) and loaded.purpose.endswith("(upcast)")
    assert len(calls) == 1


def test_a_row_from_a_newer_release_is_unreadable_not_altered() -> None:
    row = next(r for r in v0_1_rows() if r.type == "ReminderSent")
    newer = row.model_copy(update={"payload": {**row.payload, "v": 7}})
    with pytest.raises(UnreadableEvent, match="newer than this release"):
        to_recorded(newer)
    unknown = row.model_copy(update={"type": "MentorshipTeleported"})
    with pytest.raises(UnreadableEvent, match="unknown event type"):
        to_recorded(unknown)


def _first_input(history: Path) -> dict[str, Any]:
    started = json.loads(gzip.decompress(history.read_bytes()))["events"][0]
    payload = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    found: dict[str, Any] = json.loads(base64.b64decode(payload["data"]))
    return found


def test_a_run_continued_by_v0_0_hands_its_state_to_this_release() -> None:
    carried = _first_input(CORPUS / "v0.0" / "full_year.run2.json.gz")
    assert "review_requested" in carried["state"], "the v0.0 shape had this field"
    loaded = decode(RelationshipInput, carried)
    assert isinstance(loaded, RelationshipInput) and loaded.state is not None
    assert loaded.state.seq == carried["state"]["seq"]
    assert loaded.ledger_head is None, "v0.0 did not carry a chain head"


def test_a_status_answer_from_a_newer_worker_reads_in_this_cli() -> None:
    journey = Journey()
    journey.onboard()
    view = StatusView(
        state=journey.state, waiting_for=["goals"], next_deadline=None, run=1, ledger_pending=0
    )
    data = json.loads(view.model_dump_json())
    data["added_by_a_later_release"] = 1
    data["state"]["added_by_a_later_release"] = {"x": 1}
    data["state"]["mentor"]["pronouns"] = "she/her"
    data["state"]["meetings"][0]["room"] = "4.12"
    del data["ledger_blocked"]
    loaded = decode(StatusView, data)
    assert loaded.state == journey.state and loaded.ledger_blocked is None


def test_a_command_stays_strict_about_unknown_fields() -> None:
    command = json.loads(c.Pause(actor=MENTOR, reason="leave").model_dump_json())
    command["reson"] = "typo"
    with pytest.raises(ValueError, match="reson"):
        decode(c.Pause, command)


def test_nothing_follows_a_conclusion_in_the_fold() -> None:
    journey = Journey()
    journey.onboard()
    journey.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    history = journey.history
    late = history[-1].model_copy(
        update={
            "seq": history[-1].seq + 1,
            "event": ev.ReminderSent(purpose="meeting reminder", ref="meeting-9:reminder", to=[]),
        }
    )
    with pytest.raises(ValueError, match="nothing follows a conclusion"):
        replay(journey.state.id, [*history, late])
    assert replay(journey.state.id, history).outcome is not None


def test_a_v0_1_ledger_with_at_risk_cleared_after_concluded_still_folds() -> None:
    """v0.1 recorded that for a cancelled at-risk pair; those ledgers exist and must read."""
    journey = Journey()
    journey.onboard()
    journey.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    history = journey.history
    legacy = history[-1].model_copy(
        update={"seq": history[-1].seq + 1, "event": ev.AtRiskCleared()}
    )
    assert replay(journey.state.id, [*history, legacy]).outcome is not None


def test_a_status_answer_from_a_v0_0_worker_reads_in_this_cli() -> None:
    """An older worker answers `status` with its own state shape; this CLI still reads it."""
    carried = _first_input(CORPUS / "v0.0" / "full_year.run2.json.gz")
    answer = {
        "state": carried["state"],
        "waiting_for": ["meeting 3 on 2027-01-05 09:00 UTC"],
        "next_deadline": None,
        "run": 2,
        "ledger_pending": 0,
    }
    loaded = decode(StatusView, answer)
    assert isinstance(loaded, StatusView)
    assert loaded.state.seq == carried["state"]["seq"] and loaded.ledger_blocked is None
