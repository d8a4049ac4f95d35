"""The carried state stays bounded: what is closed leaves it, every number survives.

The workflow hands the whole state to continue-as-new in one payload (Temporal's limit is
2 MB). Done items, closed loops, decided reviews and old meetings leave the state in the fold;
the ledger keeps them. Counters the rules and the summary need are kept as they happen, and
a v0.1 state (no `schema_version`) is upcast on load to what the fold would have kept.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bench.carried_state import MaxPair, journey
from bench.common import KIB
from mentorship import commands as c
from mentorship import events as ev
from mentorship.decider import Rejected
from mentorship.decisions import decide
from mentorship.events import Recorded
from mentorship.fold import RECENT_MEETINGS, grow
from mentorship.state import MeetingStatus, Phase, RelationshipState
from mentorship.state_upcasters import CURRENT, V2_FIELDS
from mentorship.stored import STORED
from mentorship.vocabulary import ItemStatus
from tests.audit_journeys import eventful, never_started
from tests.factories import MENTEE, MENTOR, Journey, log, mentee_feedback, mentor_feedback

PAYLOAD_LIMIT = 2 * 1000 * 1000  # Temporal's default blob size limit
V01_HISTORIES = Path(__file__).parent / "replay" / "histories" / "v0.1"


@cache
def three_years() -> MaxPair:
    return journey(3)


def unpruned(j: Journey) -> RelationshipState:
    """The same events folded as v0.1 did: nothing ever leaves."""
    state = RelationshipState(id=j.state.id)
    for rec in j.history:
        grow(state, rec)
    return state


def as_v01(state: RelationshipState) -> str:
    """The v0.1 payload of an unpruned state: its fields, without what version 2 added."""
    return state.model_dump_json(exclude=set(V2_FIELDS))


def _feedback_then_quiet() -> Journey:
    """A closed loop, an open one, then missed meetings: the last held one is long past."""
    j = Journey()
    j.onboard()
    for _ in range(6):
        meeting = j.state.next_meeting
        assert meeting is not None
        j.advance(meeting.scheduled_at + timedelta(hours=1))
        j.do(log(MENTOR, meeting.scheduled_at, notes=f"notes {meeting.number}", wins=["Won"]))
        for loop in j.state.loops:
            if loop.closed_at is None and loop.mentor_strengths is None:
                j.do(mentor_feedback(loop.number))
                j.do(mentee_feedback(loop.number))
        for item in j.state.open_items():
            if item.source == "feedback loop 1":
                j.do(c.ReportProgress(actor=MENTEE, item_id=item.id, status=ItemStatus.DONE))
    j.advance_by(days=140)
    return j


def _a_year_at_maximum_with_new_wins() -> Journey:
    return journey(1, new_wins=True)


JOURNEYS: dict[str, Callable[[], Journey]] = {
    "eventful": eventful,
    "never_started": never_started,
    "a_year_at_maximum_with_new_wins": _a_year_at_maximum_with_new_wins,
    "feedback_then_quiet": _feedback_then_quiet,
}


@cache
def _journey(name: str) -> Journey:
    return JOURNEYS[name]()


def _count(history: list[Recorded]) -> Counter[str]:
    return Counter(r.event.type for r in history)


# Bounded


def test_three_years_of_a_weekly_pair_at_maximum_input_carry_under_256_kib() -> None:
    pair = three_years()

    assert pair.state.meetings_held == 156
    assert max(pair.sizes.peak.values()) < 256 * KIB, "the largest input at any decision"
    assert pair.sizes.at_end[3] < 256 * KIB
    # What v0.1 carried for the same pair: past the payload limit within the first year.
    assert pair.baseline(1) > PAYLOAD_LIMIT


def test_the_state_keeps_what_is_open_and_a_short_recent_window() -> None:
    s = three_years().state

    assert all(i.status is not ItemStatus.DONE for i in s.action_items.values())
    assert sum(1 for lp in s.loops if lp.closed_at is not None) <= 1
    assert len(s.reviews) == 1
    past = [m for m in s.meetings if m.status is not MeetingStatus.SCHEDULED]
    assert len(past) == RECENT_MEETINGS
    assert [m.number for m in past] == list(range(152, 157))
    assert s.next_meeting is not None and s.next_meeting.number == 157
    assert all(ref.startswith(("meeting-157:", "item-")) for ref in s.reminders_sent)


def test_the_last_held_meeting_stays_for_its_notes_however_many_are_missed() -> None:
    j = _feedback_then_quiet()

    assert j.state.meetings_missed > RECENT_MEETINGS
    held = [m for m in j.state.meetings if m.status is MeetingStatus.HELD]
    assert [(m.number, m.notes) for m in held] == [(6, "notes 6")]
    assert len(j.state.loops) == 2 and j.state.loops[0].closed_at is not None


# Every number survives


@pytest.mark.parametrize("name", JOURNEYS)
def test_pruned_state_keeps_every_counter(name: str) -> None:
    j = _journey(name)
    s, counted = j.state, _count(j.history)

    assert s.meetings_held == counted["MeetingLogged"]
    assert s.meetings_missed == counted["MeetingMissed"]
    assert s.loops_requested == counted["FeedbackRequested"]
    withdrawn = sum(len(r.event.loops) for r in j.history if isinstance(r.event, ev.OpenWorkClosed))
    assert s.loops_closed == counted["LoopClosed"] + withdrawn
    assert s.reviews_opened == counted["ReviewOpened"]
    # The next number follows the scheduled ones (the last may still be on the calendar).
    assert counted["MeetingScheduled"] - s.next_meeting_number in (-1, 0)
    wins = [w for r in j.history if isinstance(r.event, ev.MeetingLogged) for w in r.event.wins]
    assert s.meeting_wins == list(dict.fromkeys(wins))
    old = unpruned(j)
    past = [m.scheduled_at for m in old.meetings if m.status is not MeetingStatus.SCHEDULED]
    assert s.latest_past_slot == max(past, default=None)


def test_the_summary_still_lists_every_win_of_every_meeting() -> None:
    j = _feedback_then_quiet()
    j.do(c.Conclude(actor=MENTEE, reason="moving teams"))
    j.advance_by(days=15)

    concluded = j.history[-1].event
    assert isinstance(concluded, ev.Concluded)
    assert concluded.summary.meetings_held == 6
    assert concluded.summary.meetings_missed == j.state.meetings_missed > RECENT_MEETINGS
    everything = unpruned(j)  # the numbers as the full lists of v0.1 gave them
    finished = [lp for lp in everything.loops if lp.closed_at and not lp.withdrawn]
    assert concluded.summary.loops_closed == len(finished), "a withdrawn loop is not closed"
    assert concluded.summary.wins == ["Won"]


# Rules on what left the state


def test_commands_on_what_left_the_state_are_still_refused() -> None:
    j = three_years()
    now = j.now

    with pytest.raises(Rejected, match="meeting 3 has already taken place"):
        decide(j.state, log(MENTEE, now, meeting_number=3), now)
    with pytest.raises(Rejected, match="feedback loop 1 is already closed"):
        decide(j.state, mentor_feedback(1), now)
    with pytest.raises(Rejected, match="no open action item 'm1-1'"):
        done = c.ReportProgress(actor=MENTEE, item_id="m1-1", status=ItemStatus.DONE)
        decide(j.state, done, now)


# Older shapes


V01_STATE: dict[str, Any] = {
    # As v0.1 serialised it through Temporal: JSON, no schema_version, every list in full.
    "id": "eng-2026.bob.alice",
    "program": "eng-2026",
    "kind": "traditional",
    "topic": "",
    "mentor": {
        "id": "alice",
        "name": "Alice Mentor",
        "email": "alice@example.org",
        "channel": "outbox",
        "webhook_url": None,
        "timezone": "UTC",
    },
    "mentee": {
        "id": "bob",
        "name": "Bob Mentee",
        "email": "bob@example.org",
        "channel": "outbox",
        "webhook_url": None,
        "timezone": "UTC",
    },
    "operator": {
        "id": "olga",
        "name": "Olga Operator",
        "email": "olga@example.org",
        "channel": "outbox",
        "webhook_url": None,
        "timezone": "UTC",
    },
    "policy": {
        "onboarding_deadline": "P14D",
        "onboarding_reminder_every": "P3D",
        "onboarding_grace": "P7D",
        "prep_lead": "P2D",
        "reminder_lead": "P1D",
        "meeting_grace": "P3D",
        "feedback_every_meetings": 3,
        "feedback_due": "P7D",
        "action_item_due": "P21D",
        "report_back_lead": "P3D",
        "missed_in_a_row_for_risk": 2,
        "silence_factor": 2.0,
        "review_every": "P91D",
        "early_review_lead": "P2D",
        "review_due": "P14D",
        "reflection_due": "P14D",
        "time_scale": 1.0,
        "history_event_limit": 10000,
    },
    "seq": 71,
    "phase": "under_review",
    "phase_before_pause": None,
    "paused_at": None,
    "started_at": "2026-01-05T09:00:00Z",
    "end_date": None,
    "onboarding_deadline": "2026-01-19T09:00:00Z",
    "escalated_at": None,
    "grace_until": None,
    "goals": {
        "objectives": {"o1": "Lead a design review end to end", "o2": "Present to leadership"},
        "challenges": ["Nervous in large meetings"],
        "proposed_cadence": {"kind": "weekly", "every_days": None},
        "proposed_format": "virtual",
    },
    "commitment": {
        "capacity_per_month": 4.0,
        "availability": "Tuesday and Thursday afternoons",
        "expertise": ["system design"],
        "communication": "email",
        "boundaries": ["no weekend messages"],
    },
    "pending_terms": None,
    "confirmed_by": [],
    "agreement": {
        "cadence": {"kind": "weekly", "every_days": None},
        "format": "virtual",
        "first_meeting_at": "2026-01-12T09:00:00Z",
        "session_minutes": 60,
    },
    "agreed_at": "2026-01-06T09:00:00Z",
    "retired_objectives": [],
    "meetings": [
        {
            "number": 1,
            "scheduled_at": "2026-01-12T09:00:00Z",
            "status": "held",
            "reschedules": 0,
            "agenda": [],
            "held_at": "2026-01-12T09:30:00Z",
            "format": "virtual",
            "duration_minutes": 45,
            "notes": "",
            "wins": ["Shipped the RFC"],
        },
        {
            "number": 2,
            "scheduled_at": "2026-01-19T09:00:00Z",
            "status": "held",
            "reschedules": 0,
            "agenda": ["Design review dry run"],
            "held_at": "2026-01-19T09:30:00Z",
            "format": "virtual",
            "duration_minutes": 45,
            "notes": "",
            "wins": [],
        },
        {
            "number": 3,
            "scheduled_at": "2026-01-26T09:00:00Z",
            "status": "missed",
            "reschedules": 0,
            "agenda": [],
            "held_at": None,
            "format": None,
            "duration_minutes": None,
            "notes": "",
            "wins": [],
        },
        {
            "number": 4,
            "scheduled_at": "2026-02-02T09:00:00Z",
            "status": "held",
            "reschedules": 0,
            "agenda": [],
            "held_at": "2026-02-02T09:30:00Z",
            "format": "virtual",
            "duration_minutes": 45,
            "notes": "Went through the RFC",
            "wins": ["Presented", "Shipped the RFC"],
        },
        {
            "number": 5,
            "scheduled_at": "2026-02-09T09:00:00Z",
            "status": "held",
            "reschedules": 0,
            "agenda": [],
            "held_at": "2026-02-09T09:30:00Z",
            "format": "virtual",
            "duration_minutes": 45,
            "notes": "Planned the talk",
            "wins": [],
        },
        {
            "number": 6,
            "scheduled_at": "2026-02-16T09:00:00Z",
            "status": "held",
            "reschedules": 0,
            "agenda": [],
            "held_at": "2026-02-16T09:30:00Z",
            "format": "virtual",
            "duration_minutes": 45,
            "notes": "Rehearsed the talk",
            "wins": [],
        },
        {
            "number": 7,
            "scheduled_at": "2026-02-23T09:00:00Z",
            "status": "scheduled",
            "reschedules": 0,
            "agenda": ["Leadership talk feedback"],
            "held_at": None,
            "format": None,
            "duration_minutes": None,
            "notes": "",
            "wins": [],
        },
    ],
    "missed_in_a_row": 0,
    "last_activity_at": "2026-02-16T10:00:00Z",
    "action_items": {
        "m1-1": {
            "id": "m1-1",
            "source": "meeting 1",
            "description": "Draft the RFC outline",
            "created_at": "2026-01-12T10:00:00Z",
            "due_at": "2026-02-02T10:00:00Z",
            "status": "done",
            "note": "sent it round",
            "done_at": "2026-01-20T10:00:00Z",
        },
        "f1-1": {
            "id": "f1-1",
            "source": "feedback loop 1",
            "description": "Summarise their point before replying",
            "created_at": "2026-01-27T10:00:00Z",
            "due_at": "2026-02-10T10:00:00Z",
            "status": "done",
            "note": "",
            "done_at": "2026-02-03T10:00:00Z",
        },
        "m6-1": {
            "id": "m6-1",
            "source": "meeting 6",
            "description": "Book the leadership slot",
            "created_at": "2026-02-16T10:00:00Z",
            "due_at": "2026-03-09T10:00:00Z",
            "status": "in_progress",
            "note": "",
            "done_at": None,
        },
    },
    "loops": [
        {
            "number": n,
            "requested_at": requested,
            "due_at": due,
            "mentor_strengths": ["You kept the review to time"],
            "development_areas": [],
            "mentee_what_helps": ["Concrete examples from your reviews"],
            "mentee_what_to_change": [],
            "plan_item_ids": ["f1-1"] if n == 1 else [],
            "overdue": False,
            "closed_at": closed,
        }
        for n, requested, due, closed in (
            (1, "2026-01-26T10:00:00Z", "2026-02-02T10:00:00Z", "2026-02-03T10:00:00Z"),
            (2, "2026-02-09T10:00:00Z", "2026-02-16T10:00:00Z", "2026-02-10T10:00:00Z"),
            (3, "2026-02-16T10:00:00Z", "2026-02-23T10:00:00Z", None),
        )
    ],
    "held_since_loop": 0,
    "reminders_sent": [
        "onboarding:1",
        "meeting-1:prep",
        "meeting-1:reminder",
        "item-f1-1:report",
        "meeting-6:prep",
        "meeting-6:reminder",
        "meeting-7:prep",
    ],
    "at_risk": False,
    "risk_reasons": [],
    "reviews": [
        {
            "number": 1,
            "reason": "requested",
            "detail": "requested by the mentee: check in",
            "opened_at": "2026-01-28T10:00:00Z",
            "due_at": "2026-02-11T10:00:00Z",
            "submissions": {},
            "decision": "continue",
            "decided_at": "2026-02-11T10:00:00Z",
        },
        {
            "number": 2,
            "reason": "requested",
            "detail": "requested by the mentor: goals",
            "opened_at": "2026-02-17T10:00:00Z",
            "due_at": "2026-03-03T10:00:00Z",
            "submissions": {},
            "decision": None,
            "decided_at": None,
        },
    ],
    "next_review_at": "2026-04-06T09:00:00Z",
    "review_due_before_risk": None,
    "conclusion": None,
    "outcome": None,
}


def test_a_v01_state_loads_with_its_counters_and_only_what_v2_keeps() -> None:
    s = RelationshipState.model_validate_json(json.dumps(V01_STATE), context=STORED)

    assert s.schema_version == CURRENT == 2
    assert (s.meetings_held, s.meetings_missed) == (5, 1)
    assert (s.loops_requested, s.loops_closed, s.reviews_opened) == (3, 2, 2)
    assert s.next_meeting_number == 7 and s.next_meeting is not None
    assert s.latest_past_slot == datetime(2026, 2, 16, 9, tzinfo=UTC)
    assert s.meeting_wins == ["Shipped the RFC", "Presented"]
    assert [m.number for m in s.meetings] == [2, 3, 4, 5, 6, 7]
    assert list(s.action_items) == ["m6-1"]
    assert [lp.number for lp in s.loops] == [2, 3], "the last loop closed, and the open one"
    assert [r.number for r in s.reviews] == [2]
    assert s.reminders_sent == ["meeting-7:prep"]


def test_a_v01_state_carries_on_as_it_would_have() -> None:
    s = RelationshipState.model_validate_json(json.dumps(V01_STATE), context=STORED)
    meeting = s.next_meeting
    assert meeting is not None
    held = meeting.scheduled_at + timedelta(hours=1)

    outcome = decide(s, log(MENTEE, held, meeting_number=7, wins=["Presented"]), held)

    scheduled = [r.event for r in outcome.recorded if isinstance(r.event, ev.MeetingScheduled)]
    assert [e.number for e in scheduled] == [8]
    assert scheduled[0].at == meeting.scheduled_at + timedelta(days=7)
    assert outcome.state.phase is Phase.UNDER_REVIEW
    assert outcome.state.meetings_held == 6


@pytest.mark.parametrize("name", JOURNEYS)
def test_upcasting_a_v01_state_gives_what_the_fold_keeps(name: str) -> None:
    """Live and audited states stay equal across the upgrade: the upcast v0.1 state of a
    running pair equals the fold of its ledger by this build."""
    j = _journey(name)
    upcast = RelationshipState.model_validate_json(as_v01(unpruned(j)), context=STORED)

    assert upcast == j.state


def test_a_current_state_round_trips_without_upcasting() -> None:
    s = three_years().state

    assert RelationshipState.model_validate_json(s.model_dump_json(), context=STORED) == s
    assert RelationshipState(id="r9").schema_version == CURRENT


def test_a_newer_shape_is_read_as_this_one() -> None:
    newer = {**V01_STATE, "schema_version": CURRENT + 1, "a_field_from_the_future": [1, 2]}

    s = RelationshipState.model_validate_json(json.dumps(newer), context=STORED)

    assert s.schema_version == CURRENT
    assert len(s.meetings) == 7, "a newer shape is not pruned by an older rule"


def _carried_v01_states() -> list[tuple[str, dict[str, Any]]]:
    """The state each v0.1 run after the first was started with, as the server stored it."""
    found = []
    for path in sorted(V01_HISTORIES.glob("*.json.gz")):
        history = json.loads(gzip.decompress(path.read_bytes()))
        started = history["events"][0]["workflowExecutionStartedEventAttributes"]
        payload = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
        if payload.get("state") is not None:
            found.append((path.name, payload["state"]))
    return found


@pytest.mark.parametrize(("name", "old"), _carried_v01_states())
def test_every_state_v01_carried_in_the_replay_corpus_loads_with_its_counts(
    name: str, old: dict[str, Any]
) -> None:
    s = RelationshipState.model_validate_json(json.dumps(old), context=STORED)

    statuses = Counter(m["status"] for m in old["meetings"])
    assert (s.meetings_held, s.meetings_missed) == (statuses["held"], statuses["missed"]), name
    assert s.loops_requested == len(old["loops"])
    assert s.reviews_opened == len(old["reviews"])
    assert s.seq == old["seq"]
