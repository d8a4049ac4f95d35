"""A recorded event told in the program's words: who did what, when, and why.

Auditors read a relationship's history years later, without the code at hand. Each event
type has one phrase here; `Recorded.cause` says which rule or timer acted when the lifecycle
did something on its own ("meeting 4 counted as missed: not logged within 3 days").
Pure: the same record always reads the same, so exports and reports can quote it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from mentorship import events as ev
from mentorship.cadence import Cadence, MeetingFormat
from mentorship.events import Change, Recorded, Terms
from mentorship.participants import Actor, Role

Phrase = Callable[[Any], str]
_PHRASES: dict[type[Any], Phrase] = {}


class Narration(BaseModel):
    """One line of history, split so a table can show each part in its own column."""

    model_config = ConfigDict(frozen=True)

    seq: int
    when: str
    who: str
    what: str
    why: str

    @property
    def sentence(self) -> str:
        text = f"{self.when}: {self.who} {self.what}."
        return f"{text} Why: {self.why}." if self.why else text


def narrate(records: Iterable[Recorded]) -> list[Narration]:
    """The whole timeline; names come from the start event so people read as people.

    A relationship run at `time_scale` reads in program time throughout, every moment and
    span on the same clock as its end date."""
    names: dict[str, str] = {}
    scale = 1.0
    lines = []
    token = _CLOCK.set(None)
    try:
        for rec in records:
            if isinstance(rec.event, ev.RelationshipStarted):
                names.update(people(rec.event))
                scale = rec.event.policy.time_scale
                _CLOCK.set(_program_clock(rec.occurred_at, scale) if scale != 1.0 else None)
            line = describe(rec, names)
            if isinstance(rec.event, ev.Resumed) and scale != 1.0:
                line = line.model_copy(update={"what": _resumed(rec.event, scale)})
            lines.append(line)
    finally:
        _CLOCK.reset(token)
    return lines


Clock = Callable[[datetime], datetime]
_CLOCK: ContextVar[Clock | None] = ContextVar("narrative_clock", default=None)


def _program_clock(started: datetime, scale: float) -> Clock:
    return lambda moment: started + (moment - started) * scale


def sentence(rec: Recorded, names: Mapping[str, str] | None = None) -> str:
    return describe(rec, names).sentence


def describe(rec: Recorded, names: Mapping[str, str] | None = None) -> Narration:
    return Narration(
        seq=rec.seq,
        when=when(rec.occurred_at),
        who=who(rec.actor, names or {}),
        what=what(rec.event),
        why=rec.cause,
    )


def people(started: ev.RelationshipStarted) -> dict[str, str]:
    return {p.id: p.name for p in (started.mentor, started.mentee, started.operator)}


def who(actor: Actor, names: Mapping[str, str]) -> str:
    if actor.role is Role.SYSTEM:
        return "the lifecycle"
    name = names.get(actor.id)
    said = f"{actor.role.value} {name} ({actor.id})" if name else f"{actor.role.value} {actor.id}"
    if actor.via:
        said += f", entered by operator {names.get(actor.via, actor.via)}"
    return said


def what(event: ev.Event) -> str:
    phrase = _PHRASES.get(type(event))
    if phrase is None:
        raise LookupError(
            f"no sentence for event type {type(event).__name__}; add one to mentorship/narrative.py"
        )
    return phrase(event)


def described_types() -> frozenset[type[Any]]:
    """The event types with a sentence, so a test can hold this against the `Event` union."""
    return frozenset(_PHRASES)


# Formatting helpers


def when(moment: datetime) -> str:
    """Minutes in UTC: the ledger keeps UTC, and auditors compare lines across time zones."""
    if moment.tzinfo is None:
        return moment.isoformat(timespec="minutes")
    clock = _CLOCK.get()
    if clock is not None:
        moment = clock(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(value: date | datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _count(n: int, noun: str) -> str:
    if n == 0:
        return f"no {noun}s"
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _duration(seconds: float) -> str:
    days, rest = divmod(round(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    parts = [_count(days, "day") if days else "", _count(hours, "hour") if hours else ""]
    return " ".join(p for p in parts if p) or _count(max(rest // 60, 1), "minute")


def _listed(items: Iterable[str]) -> str:
    return "; ".join(items) or "none"


def _roles(roles: Iterable[Role]) -> str:
    return " and ".join(r.value for r in roles) or "nobody"


def _format(fmt: MeetingFormat) -> str:
    return fmt.value.replace("_", " ")


def _meetings(cadence: Cadence, fmt: MeetingFormat) -> str:
    return f"{cadence.describe()} {_format(fmt)} meetings"


def _terms(terms: Terms) -> str:
    return (
        f"{_meetings(terms.cadence, terms.format)} of {terms.session_minutes} minutes, "
        f"the first on {when(terms.first_meeting_at)}"
        f"{f' at {terms.place}' if terms.place else ''}"
        f"{f' (call: {terms.link})' if terms.link else ''}"
    )


def _evolution(evolution: Change | None) -> str:
    if evolution is None:
        return ""
    changes = []
    if evolution.cadence:
        changes.append(f"cadence {evolution.cadence.describe()}")
    if evolution.format:
        changes.append(f"format {_format(evolution.format)}")
    if evolution.add_objectives:
        changes.append(f"new objectives {_listed(evolution.add_objectives)}")
    if evolution.retire_objectives:
        changes.append(f"retiring {', '.join(evolution.retire_objectives)}")
    return f" ({', '.join(changes)})" if changes else ""


def _on(event_type: type[Any]) -> Callable[[Phrase], Phrase]:
    def register(fn: Phrase) -> Phrase:
        _PHRASES[event_type] = fn
        return fn

    return register


# Onboarding


@_on(ev.RelationshipStarted)
def _started(e: ev.RelationshipStarted) -> str:
    text = (
        f"started a {e.kind.value} relationship in program {e.program} between mentor "
        f"{e.mentor.name} and mentee {e.mentee.name}, run by operator {e.operator.name}; "
        f"onboarding due by {when(e.onboarding_deadline)}"
    )
    if e.topic:
        text += f"; topic: {e.topic}"
    if e.end_date:
        text += f"; ends on {_day(e.end_date)}"
    return text


@_on(ev.GoalsSubmitted)
def _goals(e: ev.GoalsSubmitted) -> str:
    return (
        f"stated {_count(len(e.objectives), 'learning objective')} ({_listed(e.objectives)}) "
        f"and proposed {_meetings(e.proposed_cadence, e.proposed_format)}"
    )


@_on(ev.CommitmentSubmitted)
def _commitment(e: ev.CommitmentSubmitted) -> str:
    return (
        f"committed to at most {e.capacity_per_month:g} meetings a month ({e.availability}"
        f"{'; meets ' + e.window.describe() if e.window else ''}), "
        f"expertise in {_listed(e.expertise)}, reachable by {e.communication}"
    )


@_on(ev.AgreementConfirmed)
def _confirmed(e: ev.AgreementConfirmed) -> str:
    return f"confirmed the agreement as the {e.by.value}: {_terms(e.terms)}"


@_on(ev.AgreementSigned)
def _signed(e: ev.AgreementSigned) -> str:
    return (
        f"signed the agreement both parties confirmed: {_terms(e.terms)}"
        f"{', then ' + e.rhythm.describe(e.terms.cadence) if e.rhythm else ''}; "
        f"first review due {when(e.next_review_at)}"
    )


@_on(ev.OnboardingEscalated)
def _escalated(e: ev.OnboardingEscalated) -> str:
    return (
        f"told the operator that onboarding is incomplete (missing: {_listed(e.missing)}); "
        f"grace period until {when(e.grace_until)}"
    )


@_on(ev.ReminderSent)
def _reminded(e: ev.ReminderSent) -> str:
    prompt = e.purpose if e.purpose.endswith("reminder") else f"{e.purpose} reminder"
    return f"sent the {prompt} to the {_roles(e.to)}"


# Cadence


@_on(ev.MeetingScheduled)
def _scheduled(e: ev.MeetingScheduled) -> str:
    return f"scheduled meeting {e.number} for {when(e.at)}"


@_on(ev.AgendaSubmitted)
def _agenda(e: ev.AgendaSubmitted) -> str:
    return f"sent the agenda for meeting {e.number}: {_listed(e.items)}"


@_on(ev.MeetingRescheduled)
def _rescheduled(e: ev.MeetingRescheduled) -> str:
    if e.at == e.previous_at:
        return f"put meeting {e.number} back on both calendars at {when(e.at)} ({e.reason})"
    return (
        f"moved meeting {e.number} from {when(e.previous_at)} to {when(e.at)} (reason: {e.reason})"
    )


@_on(ev.MeetingWithdrawn)
def _withdrawn(e: ev.MeetingWithdrawn) -> str:
    return f"took meeting {e.number} off both calendars ({e.reason})"


@_on(ev.MeetingLogged)
def _logged(e: ev.MeetingLogged) -> str:
    text = (
        f"logged meeting {e.number}, held {when(e.held_at)} ({_format(e.format)}, "
        f"{e.duration_minutes} min), with {_count(len(e.action_items), 'action item')}"
    )
    if e.wins:
        text += f" and {_count(len(e.wins), 'win')} ({_listed(e.wins)})"
    return text


@_on(ev.MeetingMissed)
def _missed(e: ev.MeetingMissed) -> str:
    return f"counted meeting {e.number} (set for {when(e.scheduled_at)}) as missed"


@_on(ev.ProgressReported)
def _progress(e: ev.ProgressReported) -> str:
    status = e.status.value.replace("_", " ")
    text = f"reported action item {e.item_id} as {status}"
    return f"{text}: {e.note}" if e.note else text


# Feedback


@_on(ev.FeedbackRequested)
def _feedback_requested(e: ev.FeedbackRequested) -> str:
    return f"asked mentor and mentee for feedback (loop {e.loop}), due {when(e.due_at)}"


@_on(ev.MentorFeedbackGiven)
def _mentor_feedback(e: ev.MentorFeedbackGiven) -> str:
    return (
        f"gave mentor feedback for loop {e.loop}: {_count(len(e.strengths), 'strength')}, "
        f"{_count(len(e.development_areas), 'area')} to develop, and an action plan of "
        f"{_count(len(e.plan), 'item')} ({', '.join(i.id for i in e.plan) or 'none'})"
    )


@_on(ev.MenteeFeedbackGiven)
def _mentee_feedback(e: ev.MenteeFeedbackGiven) -> str:
    return (
        f"gave mentee feedback for loop {e.loop}: {_count(len(e.what_helps), 'point')} on what "
        f"helps, {_count(len(e.what_to_change), 'point')} on what to change"
    )


@_on(ev.LoopOverdue)
def _loop_overdue(e: ev.LoopOverdue) -> str:
    return f"marked feedback loop {e.loop} overdue (missing: {_listed(e.missing)})"


@_on(ev.OpenWorkClosed)
def _open_work_closed(e: ev.OpenWorkClosed) -> str:
    parts = [f"review {e.review}"] if e.review is not None else []
    parts += [f"feedback loop {n}" for n in e.loops]
    if e.items:
        parts.append(f"action item{'s' if len(e.items) > 1 else ''} {', '.join(e.items)}")
    return f"closed what was still open ({', '.join(parts) or 'nothing'}): {e.reason}"


@_on(ev.LoopClosed)
def _loop_closed(e: ev.LoopClosed) -> str:
    return f"closed feedback loop {e.loop}"


# Warning signs and re-evaluation


@_on(ev.AtRiskRaised)
def _at_risk(e: ev.AtRiskRaised) -> str:
    text = f"flagged the relationship at risk ({_listed(e.reasons)}) and asked for a check-in"
    if e.review_at is not None:
        text += f"; review brought forward to {when(e.review_at)}"
    return text


@_on(ev.AtRiskCleared)
def _at_risk_cleared(e: ev.AtRiskCleared) -> str:
    return "cleared the at-risk flag"


@_on(ev.ReviewOpened)
def _review_opened(e: ev.ReviewOpened) -> str:
    reason = e.reason.value.replace("_", " ")
    return f"opened review {e.number} ({reason}), answers due {when(e.due_at)}"


@_on(ev.ReviewSubmitted)
def _review_submitted(e: ev.ReviewSubmitted) -> str:
    text = (
        f"submitted review {e.number} as the {e.by.value}: effectiveness {e.effectiveness}/5, "
        f"chose to {e.decision.value}{_evolution(e.evolution)}"
    )
    return f"{text}; comment: {e.comment}" if e.comment else text


@_on(ev.ReviewDecided)
def _review_decided(e: ev.ReviewDecided) -> str:
    text = f"decided review {e.number}: {e.decision.value}{_evolution(e.evolution)}"
    if e.unanswered:
        text += f" (no answer from the {_roles(e.unanswered)}, counted as continue)"
    return f"{text}; next review due {when(e.next_review_at)}"


@_on(ev.CadenceChanged)
def _cadence_changed(e: ev.CadenceChanged) -> str:
    return f"changed the cadence to {e.cadence.describe()} (reason: {e.reason})"


# Operator


@_on(ev.Paused)
def _paused(e: ev.Paused) -> str:
    return f"paused the relationship (reason: {e.reason})"


@_on(ev.Resumed)
def _resumed_phrase(e: ev.Resumed) -> str:
    return _resumed(e, 1.0)


def _resumed(e: ev.Resumed, time_scale: float) -> str:
    """In program time, like every other span a person reads (`time_scale` compresses it)."""
    paused = _duration(e.paused_for_seconds * time_scale)
    return f"resumed the relationship after {paused} paused; pending deadlines moved on as much"


@_on(ev.EndDateExtended)
def _extended(e: ev.EndDateExtended) -> str:
    before = _day(e.previous) if e.previous else "no end date"
    return f"extended the end date from {before} to {_day(e.end_date)}"


# Conclusion


@_on(ev.ConclusionStarted)
def _conclusion_started(e: ev.ConclusionStarted) -> str:
    outcome = e.outcome.value.replace("_", " ")
    return (
        f"began the conclusion (outcome {outcome}: {e.reason}); "
        f"closing reflections due {when(e.due_at)}"
    )


@_on(ev.ReflectionSubmitted)
def _reflection(e: ev.ReflectionSubmitted) -> str:
    return (
        f"submitted a closing reflection as the {e.by.value}: "
        f"{_count(len(e.highlights), 'highlight')}, {_count(len(e.wins), 'win')}, "
        f"{_count(len(e.goals_met), 'goal')} met"
    )


@_on(ev.Concluded)
def _concluded(e: ev.Concluded) -> str:
    s = e.summary
    outcome = e.outcome.value.replace("_", " ")
    return (
        f"concluded the relationship as {outcome} ({e.reason}) after "
        f"{_count(s.duration_days, 'day')}: {_count(s.meetings_held, 'meeting')} held, "
        f"{s.meetings_missed} missed, {_count(s.loops_closed, 'feedback loop')} closed"
    )
