"""`apply(state, event) -> state`: the one way state changes, live and in audits.

The workflow folds the events it decides; an auditor folds the ledger. Both use this module,
so the live state and the audited state cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from mentorship import events as ev
from mentorship.events import Change, Recorded
from mentorship.state import (
    ActionItem,
    Commitment,
    Conclusion,
    FeedbackLoop,
    Goals,
    Meeting,
    MeetingStatus,
    Phase,
    Reflection,
    RelationshipState,
    Review,
    ReviewEntry,
)
from mentorship.vocabulary import ItemStatus

NOTES_KEPT = 3
# Past meetings the state keeps (besides the last one held): a recent track record for status
# and as-of views. The lifecycle itself reads only the last held meeting's notes.
RECENT_MEETINGS = 5
Mutation = Callable[[RelationshipState, Any, datetime], None]
_MUTATIONS: dict[type[Any], Mutation] = {}


def apply(state: RelationshipState, recorded: Recorded) -> RelationshipState:
    """The state after one event; `state` itself is left untouched."""
    return fold(state, [recorded])


def fold(state: RelationshipState, recorded: Iterable[Recorded]) -> RelationshipState:
    """The state after a run of events, copying once rather than per event."""
    new = state.model_copy(deep=True)
    for rec in recorded:
        mutate(new, rec)
    return new


def replay(relationship_id: str, recorded: Iterable[Recorded]) -> RelationshipState:
    """Rebuild a relationship from nothing but its events, as an auditor does."""
    return fold(RelationshipState(id=relationship_id), recorded)


def mutate(state: RelationshipState, rec: Recorded) -> None:
    """Fold one event in place, then let go of what it closed (`compact`)."""
    grow(state, rec)
    compact(state)


def grow(state: RelationshipState, rec: Recorded) -> None:
    """The event's own change with nothing pruned: the state as v0.1 kept it, growing with
    every meeting. Only benchmarks and tests fold with it alone, to see what pruning saves."""
    if rec.seq != state.seq + 1:
        raise ValueError(
            f"event {rec.seq} of {rec.relationship_id} does not follow event {state.seq}"
        )
    if state.phase is Phase.CONCLUDED and not _legacy_after_conclusion(rec):
        raise ValueError(
            f"event {rec.seq} ({rec.event.type}) of {rec.relationship_id} comes after the "
            f"relationship concluded at event {state.seq}; nothing follows a conclusion"
        )
    _MUTATIONS[type(rec.event)](state, rec.event, rec.occurred_at)
    state.seq = rec.seq


def _legacy_after_conclusion(rec: Recorded) -> bool:
    """Up to v0.1 a cancelled at-risk pair recorded AtRiskCleared after Concluded (see
    `Revision.NOTHING_AFTER_CONCLUSION`); those ledgers exist, so that one event still folds."""
    return isinstance(rec.event, ev.AtRiskCleared)


# Compaction: the carried state stays bounded however long the relationship runs.


def compact(s: RelationshipState) -> None:
    """Let go of what is closed; the ledger keeps it, and the audit reads history from there.

    The state crosses continue-as-new as one payload, under Temporal's 2 MB limit. The rules
    read only what is open, the last held meeting, the last review and the counters, so the
    rest leaves here, in the fold both the workflow and the audit use: live and audited
    states stay equal. A closed thing never reopens, so pruning after every event keeps the
    same as pruning once at the end (which is what the v0.1 upcaster does).
    """
    s.meetings = _recent_meetings(s.meetings)
    if any(i.status is ItemStatus.DONE for i in s.action_items.values()):
        s.action_items = {
            k: i for k, i in s.action_items.items() if i.status is not ItemStatus.DONE
        }
    s.loops = _open_and_last_closed(s.loops)
    del s.reviews[:-1]
    s.reminders_sent = [ref for ref in s.reminders_sent if _still_open(s, ref)]


def _recent_meetings(meetings: list[Meeting]) -> list[Meeting]:
    """Scheduled meetings, the last few past ones, and the last held (the prep prompt quotes
    its notes however many meetings were missed since)."""
    past = [m for m in meetings if m.status is not MeetingStatus.SCHEDULED]
    held = [m for m in past if m.status is MeetingStatus.HELD]
    kept = {id(m) for m in past[-RECENT_MEETINGS:] + held[-1:]}
    if len(kept) == len(past):
        return meetings
    return [m for m in meetings if m.status is MeetingStatus.SCHEDULED or id(m) in kept]


def _open_and_last_closed(loops: list[FeedbackLoop]) -> list[FeedbackLoop]:
    closed = [lp for lp in loops if lp.closed_at is not None]
    if len(closed) <= 1:
        return loops
    last = max(closed, key=_closing_order)
    return [lp for lp in loops if lp.closed_at is None or lp is last]


def _closing_order(loop: FeedbackLoop) -> tuple[datetime, int]:
    """Loops closing at the same moment close in number order."""
    assert loop.closed_at is not None
    return loop.closed_at, loop.number


def _still_open(s: RelationshipState, ref: str) -> bool:
    """Whether a reminder ref names something still open: only those are ever looked up."""
    kind, _, key = ref.partition(":")[0].partition("-")
    if kind == "meeting":
        return any(str(m.number) == key and m.status is MeetingStatus.SCHEDULED for m in s.meetings)
    if kind == "item":
        return key in s.action_items
    if kind == "loop":
        return any(str(lp.number) == key and lp.closed_at is None for lp in s.loops)
    if kind == "review":
        review = s.open_review
        return review is not None and str(review.number) == key
    if kind == "onboarding":
        return s.agreement is None
    return True


def _on(event_type: type[Any]) -> Callable[[Mutation], Mutation]:
    def register(fn: Mutation) -> Mutation:
        _MUTATIONS[event_type] = fn
        return fn

    return register


@_on(ev.RelationshipStarted)
def _started(s: RelationshipState, e: ev.RelationshipStarted, at: datetime) -> None:
    s.program, s.kind, s.topic = e.program, e.kind, e.topic
    s.mentor, s.mentee, s.operator = e.mentor, e.mentee, e.operator
    s.end_date, s.policy = e.end_date, e.policy
    s.started_at = s.last_activity_at = at
    s.onboarding_deadline = e.onboarding_deadline
    s.phase = Phase.ONBOARDING


@_on(ev.GoalsSubmitted)
def _goals(s: RelationshipState, e: ev.GoalsSubmitted, at: datetime) -> None:
    s.goals = Goals(
        objectives={f"o{i}": text for i, text in enumerate(e.objectives, start=1)},
        challenges=e.challenges,
        proposed_cadence=e.proposed_cadence,
        proposed_format=e.proposed_format,
    )
    s.last_activity_at = at


@_on(ev.CommitmentSubmitted)
def _commitment(s: RelationshipState, e: ev.CommitmentSubmitted, at: datetime) -> None:
    s.commitment = Commitment(**e.model_dump(exclude={"type"}))
    s.last_activity_at = at


@_on(ev.AgreementConfirmed)
def _confirmed(s: RelationshipState, e: ev.AgreementConfirmed, at: datetime) -> None:
    if s.pending_terms != e.terms:
        s.confirmed_by = []
    s.pending_terms = e.terms
    if e.by not in s.confirmed_by:
        s.confirmed_by.append(e.by)
    s.last_activity_at = at


@_on(ev.AgreementSigned)
def _signed(s: RelationshipState, e: ev.AgreementSigned, at: datetime) -> None:
    s.agreement, s.agreed_at, s.rhythm = e.terms, at, e.rhythm
    s.pending_terms, s.confirmed_by = None, []
    s.next_review_at = e.next_review_at
    s.phase = Phase.ACTIVE
    s.last_activity_at = at


@_on(ev.OnboardingEscalated)
def _escalated(s: RelationshipState, e: ev.OnboardingEscalated, at: datetime) -> None:
    s.escalated_at, s.grace_until = at, e.grace_until


@_on(ev.ReminderSent)
def _reminded(s: RelationshipState, e: ev.ReminderSent, at: datetime) -> None:
    s.reminders_sent.append(e.ref)


@_on(ev.MeetingScheduled)
def _scheduled(s: RelationshipState, e: ev.MeetingScheduled, at: datetime) -> None:
    s.meetings.append(Meeting(number=e.number, scheduled_at=e.at))


@_on(ev.AgendaSubmitted)
def _agenda(s: RelationshipState, e: ev.AgendaSubmitted, at: datetime) -> None:
    _meeting(s, e.number).agenda = e.items
    s.last_activity_at = at


@_on(ev.MeetingRescheduled)
def _rescheduled(s: RelationshipState, e: ev.MeetingRescheduled, at: datetime) -> None:
    meeting = _meeting(s, e.number)
    meeting.scheduled_at = e.at
    meeting.reschedules += 1
    meeting.sequence += 1
    meeting.withdrawn = False
    s.reminders_sent = [r for r in s.reminders_sent if not r.startswith(f"meeting-{e.number}:")]
    s.last_activity_at = at


@_on(ev.MeetingWithdrawn)
def _withdrawn(s: RelationshipState, e: ev.MeetingWithdrawn, at: datetime) -> None:
    meeting = _meeting(s, e.number)
    meeting.sequence += 1
    meeting.withdrawn = True


@_on(ev.MeetingLogged)
def _logged(s: RelationshipState, e: ev.MeetingLogged, at: datetime) -> None:
    meeting = _meeting(s, e.number)
    meeting.status = MeetingStatus.HELD
    meeting.held_at, meeting.format = e.held_at, e.format
    meeting.duration_minutes, meeting.notes, meeting.wins = e.duration_minutes, e.notes, e.wins
    _keep_recent_notes(s)
    _count_past(s, meeting)
    s.meetings_held += 1
    _count_wins(s, e.wins)
    for i, text in enumerate(e.action_items, start=1):
        item_id = f"m{e.number}-{i}"
        s.action_items[item_id] = ActionItem(
            id=item_id,
            source=f"meeting {e.number}",
            description=text,
            created_at=at,
            due_at=at + s.policy.span(s.policy.action_item_due),
        )
    s.missed_in_a_row = 0
    s.held_since_loop += 1
    s.last_activity_at = at


def _count_past(s: RelationshipState, meeting: Meeting) -> None:
    """A past meeting's slot never moves again, so the latest of them can be kept alone."""
    if s.latest_past_slot is None or meeting.scheduled_at > s.latest_past_slot:
        s.latest_past_slot = meeting.scheduled_at


def _count_wins(s: RelationshipState, wins: list[str]) -> None:
    """The summary lists every distinct win once, in the order they were first logged."""
    for win in wins:
        if win not in s.meeting_wins:
            s.meeting_wins.append(win)


def _keep_recent_notes(s: RelationshipState) -> None:
    """Only the latest notes travel with the state; the ledger keeps every one.

    State is carried through continue-as-new as one payload: years of meeting notes would
    outgrow Temporal's payload limit, and the lifecycle only ever reads the last ones.
    """
    held = [m for m in s.meetings if m.status is MeetingStatus.HELD]
    for meeting in held[:-NOTES_KEPT]:
        meeting.notes = ""


@_on(ev.MeetingMissed)
def _missed(s: RelationshipState, e: ev.MeetingMissed, at: datetime) -> None:
    meeting = _meeting(s, e.number)
    meeting.status = MeetingStatus.MISSED
    _count_past(s, meeting)
    s.meetings_missed += 1
    s.missed_in_a_row += 1


@_on(ev.ProgressReported)
def _progress(s: RelationshipState, e: ev.ProgressReported, at: datetime) -> None:
    item = s.action_items[e.item_id]
    item.status, item.note = e.status, e.note
    item.done_at = at if e.status is ItemStatus.DONE else None
    s.last_activity_at = at


@_on(ev.FeedbackRequested)
def _feedback_requested(s: RelationshipState, e: ev.FeedbackRequested, at: datetime) -> None:
    s.loops.append(FeedbackLoop(number=e.loop, requested_at=at, due_at=e.due_at))
    s.loops_requested += 1
    s.held_since_loop = 0


@_on(ev.MentorFeedbackGiven)
def _mentor_feedback(s: RelationshipState, e: ev.MentorFeedbackGiven, at: datetime) -> None:
    loop = _loop(s, e.loop)
    loop.mentor_strengths, loop.development_areas = e.strengths, e.development_areas
    for item in e.plan:
        s.action_items[item.id] = ActionItem(
            id=item.id,
            source=f"feedback loop {e.loop}",
            description=item.description,
            created_at=at,
            due_at=item.due_at,
        )
        loop.plan_item_ids.append(item.id)
    s.last_activity_at = at


@_on(ev.MenteeFeedbackGiven)
def _mentee_feedback(s: RelationshipState, e: ev.MenteeFeedbackGiven, at: datetime) -> None:
    loop = _loop(s, e.loop)
    loop.mentee_what_helps, loop.mentee_what_to_change = e.what_helps, e.what_to_change
    s.last_activity_at = at


@_on(ev.LoopOverdue)
def _loop_overdue(s: RelationshipState, e: ev.LoopOverdue, at: datetime) -> None:
    _loop(s, e.loop).overdue = True


@_on(ev.LoopClosed)
def _loop_closed(s: RelationshipState, e: ev.LoopClosed, at: datetime) -> None:
    loop = _loop(s, e.loop)
    loop.closed_at, loop.overdue = at, False
    s.loops_closed += 1


@_on(ev.OpenWorkClosed)
def _open_work_closed(s: RelationshipState, e: ev.OpenWorkClosed, at: datetime) -> None:
    if e.review is not None:
        _review(s, e.review).closed_reason = e.reason
    for number in e.loops:
        loop = _loop(s, number)
        loop.closed_at, loop.withdrawn, loop.overdue = at, True, False
    # Withdrawn, not closed: `loops_closed` (the summary's figure) counts finished loops only.
    for item_id in e.items:
        s.action_items.pop(item_id, None)


@_on(ev.AtRiskRaised)
def _at_risk(s: RelationshipState, e: ev.AtRiskRaised, at: datetime) -> None:
    s.at_risk, s.risk_reasons = True, e.reasons
    if e.review_at is not None and (s.next_review_at is None or e.review_at < s.next_review_at):
        s.review_due_before_risk = s.next_review_at
        s.next_review_at = e.review_at


@_on(ev.AtRiskCleared)
def _at_risk_cleared(s: RelationshipState, e: ev.AtRiskCleared, at: datetime) -> None:
    s.at_risk, s.risk_reasons = False, []
    if s.review_due_before_risk is not None and s.open_review is None:
        # Recovered before the early review opened: the periodic rhythm stands again.
        s.next_review_at, s.review_due_before_risk = s.review_due_before_risk, None


@_on(ev.ReviewOpened)
def _review_opened(s: RelationshipState, e: ev.ReviewOpened, at: datetime) -> None:
    s.reviews.append(
        Review(number=e.number, reason=e.reason, detail=e.detail, opened_at=at, due_at=e.due_at)
    )
    s.reviews_opened += 1
    s.review_due_before_risk = None
    s.phase = Phase.UNDER_REVIEW


@_on(ev.ReviewSubmitted)
def _review_submitted(s: RelationshipState, e: ev.ReviewSubmitted, at: datetime) -> None:
    _review(s, e.number).submissions[e.by] = ReviewEntry(
        effectiveness=e.effectiveness,
        progress=e.progress,
        decision=e.decision,
        evolution=e.evolution,
        comment=e.comment,
    )
    s.last_activity_at = at


@_on(ev.ReviewDecided)
def _review_decided(s: RelationshipState, e: ev.ReviewDecided, at: datetime) -> None:
    review = _review(s, e.number)
    review.decision, review.decided_at = e.decision, at
    s.next_review_at = e.next_review_at
    if e.evolution is not None:
        _evolve(s, e.evolution)
    s.phase = Phase.ACTIVE


def _evolve(s: RelationshipState, evolution: Change) -> None:
    assert s.agreement is not None and s.goals is not None
    changes: dict[str, Any] = {}
    if evolution.cadence:
        changes["cadence"] = evolution.cadence
    if evolution.format:
        changes["format"] = evolution.format
    s.agreement = s.agreement.model_copy(update=changes)
    start = len(s.goals.objectives) + 1
    for i, text in enumerate(evolution.add_objectives, start=start):
        s.goals.objectives[f"o{i}"] = text
    s.retired_objectives.extend(
        o for o in evolution.retire_objectives if o not in s.retired_objectives
    )


@_on(ev.CadenceChanged)
def _cadence_changed(s: RelationshipState, e: ev.CadenceChanged, at: datetime) -> None:
    assert s.agreement is not None
    s.agreement = s.agreement.model_copy(update={"cadence": e.cadence})


@_on(ev.Paused)
def _paused(s: RelationshipState, e: ev.Paused, at: datetime) -> None:
    s.phase_before_pause, s.phase, s.paused_at = s.phase, Phase.PAUSED, at


@_on(ev.Resumed)
def _resumed(s: RelationshipState, e: ev.Resumed, at: datetime) -> None:
    shift = timedelta(seconds=e.paused_for_seconds)
    _shift_deadlines(s, shift)
    if s.phase_before_pause is Phase.ONBOARDING:
        s.onboarding_paused_for += shift
    s.phase = s.phase_before_pause or Phase.ACTIVE
    s.phase_before_pause, s.paused_at = None, None
    s.last_activity_at = at


def _shift_deadlines(s: RelationshipState, shift: timedelta) -> None:
    """Pending timers restart where they stood when the relationship was paused."""
    for name in ("onboarding_deadline", "grace_until", "next_review_at", "review_due_before_risk"):
        value = getattr(s, name)
        if value is not None:
            setattr(s, name, value + shift)
    for meeting in s.meetings:
        if meeting.status is MeetingStatus.SCHEDULED:
            meeting.scheduled_at += shift
    for item in s.action_items.values():
        if item.status is not ItemStatus.DONE and item.due_at is not None:
            item.due_at += shift
    for loop in s.loops:
        if loop.closed_at is None:
            loop.due_at += shift
    for holder in (s.open_review, s.conclusion):
        if holder is not None:
            holder.due_at += shift
    if s.last_activity_at is not None:
        s.last_activity_at += shift


@_on(ev.EndDateExtended)
def _extended(s: RelationshipState, e: ev.EndDateExtended, at: datetime) -> None:
    s.end_date = e.end_date


@_on(ev.ConclusionStarted)
def _conclusion_started(s: RelationshipState, e: ev.ConclusionStarted, at: datetime) -> None:
    s.conclusion = Conclusion(reason=e.reason, outcome=e.outcome, started_at=at, due_at=e.due_at)
    s.phase = Phase.CONCLUDING
    s.phase_before_pause = None
    s.meetings = [m for m in s.meetings if m.status is not MeetingStatus.SCHEDULED]


@_on(ev.ReflectionSubmitted)
def _reflection(s: RelationshipState, e: ev.ReflectionSubmitted, at: datetime) -> None:
    assert s.conclusion is not None
    s.conclusion.reflections[e.by] = Reflection(
        highlights=e.highlights, wins=e.wins, goals_met=e.goals_met, next_steps=e.next_steps
    )
    s.last_activity_at = at


@_on(ev.Concluded)
def _concluded(s: RelationshipState, e: ev.Concluded, at: datetime) -> None:
    if s.conclusion is None:
        s.conclusion = Conclusion(reason=e.reason, outcome=e.outcome, started_at=at, due_at=at)
    s.conclusion.summary, s.conclusion.concluded_at = e.summary, at
    s.outcome = e.outcome
    s.phase = Phase.CONCLUDED
    s.phase_before_pause = None
    s.meetings = [m for m in s.meetings if m.status is not MeetingStatus.SCHEDULED]


def _meeting(s: RelationshipState, number: int) -> Meeting:
    meeting = s.meeting(number)
    if meeting is None:
        raise ValueError(f"relationship {s.id} has no meeting {number}")
    return meeting


def _loop(s: RelationshipState, number: int) -> FeedbackLoop:
    for loop in s.loops:
        if loop.number == number:
            return loop
    raise ValueError(f"relationship {s.id} has no feedback loop {number}")


def _review(s: RelationshipState, number: int) -> Review:
    for review in s.reviews:
        if review.number == number:
            return review
    raise ValueError(f"relationship {s.id} has no review {number}")
