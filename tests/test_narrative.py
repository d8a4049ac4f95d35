"""History in the program's words: every event reads as who did what, when, and why."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import pytest

from mentorship import commands as c
from mentorship import events as ev
from mentorship.events import Event, Recorded
from mentorship.narrative import described_types, narrate, sentence, what
from mentorship.policy import Policy
from tests.audit_journeys import eventful, never_started
from tests.factories import OPERATOR, T0, Journey, request


def _union_members() -> set[type]:
    union, _discriminator = get_args(Event)
    return set(get_args(union))


def _first(history: list[Recorded], kind: type) -> Recorded:
    return next(r for r in history if isinstance(r.event, kind))


def test_every_event_type_has_a_sentence() -> None:
    missing = {t.__name__ for t in _union_members() - described_types()}
    assert not missing, f"add a sentence to mentorship/narrative.py for {sorted(missing)}"


def test_an_event_type_without_a_sentence_is_named() -> None:
    class Invented(ev.AtRiskCleared):
        pass

    with pytest.raises(LookupError, match="Invented"):
        what(Invented())


def test_every_recorded_event_of_two_whole_lifecycles_reads_as_a_sentence() -> None:
    history = eventful().history + never_started().history
    assert {type(r.event) for r in history} == _union_members(), "journeys cover every type"
    for line in narrate(eventful().history) + narrate(never_started().history):
        assert line.when[:4] == "2026" and line.who and line.what
        assert line.sentence.startswith(f"{line.when}: {line.who} ")


def test_a_missed_meeting_names_the_rule_that_counted_it() -> None:
    missed = _first(eventful().history, ev.MeetingMissed)
    text = sentence(missed)
    assert text.startswith(f"{missed.occurred_at:%Y-%m-%d %H:%M} UTC: the lifecycle counted")
    number = missed.event.number  # type: ignore[union-attr]
    assert f"meeting {number} (set for" in text
    assert text.endswith(f"Why: meeting {number} counted as missed: not logged within 3 days.")


def test_participants_are_named_as_people_once_the_start_event_is_known() -> None:
    lines = narrate(eventful().history)
    logged = next(ln for ln in lines if ln.what.startswith("logged meeting 1"))
    assert logged.who == "mentee Bob Mentee (bob)"
    assert "1 action item and 1 win (Ran the design review)" in logged.what
    assert logged.why == "", "a person's own action needs no rule to explain it"
    cadence = next(ln for ln in lines if ln.what.startswith("changed the cadence"))
    assert cadence.who == "operator Olga Operator (olga)"
    assert cadence.what == "changed the cadence to every 21 days (reason: mentor asked)"


def test_a_lone_record_still_says_who_by_role_and_id() -> None:
    logged = _first(eventful().history, ev.MeetingLogged)
    assert ": mentee bob logged meeting 1" in sentence(logged)


def test_reviews_read_with_their_decision_and_the_change_they_made() -> None:
    lines = [ln.what for ln in narrate(eventful().history)]
    assert "decided review 2: evolve (cadence monthly); next review due 2026-06-17 10:00 UTC" in (
        lines
    )
    unanswered = next(w for w in lines if w.startswith("decided review 1"))
    assert "no answer from the mentor and mentee, counted as continue" in unanswered


def test_an_abandoned_onboarding_reads_as_escalated_then_not_started() -> None:
    lines = narrate(never_started().history)
    assert lines[-2].what.startswith("told the operator that onboarding is incomplete (missing: ")
    assert lines[-1].what.startswith("concluded the relationship as not started")
    assert lines[-1].why == "onboarding not completed by the deadline and grace period"


def test_a_pause_reads_in_program_time_when_the_program_runs_fast() -> None:
    j = Journey(request(policy=Policy(time_scale=1000)))
    j.onboard()
    j.do(c.Pause(actor=OPERATOR, reason="leave"))
    j.advance(j.now + timedelta(days=10) / 1000)
    j.do(c.Resume(actor=OPERATOR))
    [line] = [n for n in narrate(j.history) if n.what.startswith("resumed")]
    assert "after 10 days paused" in line.what


def test_a_fast_program_reads_every_moment_on_the_clock_of_its_end_date() -> None:
    j = Journey(request(policy=Policy(time_scale=1000)))
    j.onboard(first=T0 + timedelta(days=7) / 1000)
    j.advance(T0 + timedelta(days=6) / 1000)
    lines = narrate(j.history)
    scheduled = next(n for n in lines if n.what.startswith("scheduled meeting 1"))
    assert scheduled.what == "scheduled meeting 1 for 2026-01-12 09:00 UTC", "a program week on"
    prep = next(n for n in lines if "prep reminder" in n.what)
    assert prep.when == "2026-01-10 09:00 UTC", "two program days before it, not seconds"
    assert sentence(j.history[-1]).startswith("2026-01-05 09:"), "a lone record: the engine's"
