"""The meeting cadence: prepare, meet, log, celebrate, and notice what did not happen."""

from __future__ import annotations

from datetime import datetime

from mentorship import events as ev
from mentorship.commands import (
    ItemStatus,
    LogMeeting,
    ReportProgress,
    RescheduleMeeting,
    SubmitAgenda,
)
from mentorship.decider import PARTIES, Decider, Rejected
from mentorship.guards import require_actor, require_phase
from mentorship.invitations import announce_scheduled, follows, invite_for, where
from mentorship.notifications import NotificationKind as N
from mentorship.participants import Role
from mentorship.revisions import Revision
from mentorship.schedule import fits_before_end, last_anchor, next_slot
from mentorship.state import Meeting, MeetingStatus, Phase, RelationshipState

_RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)


def submit_agenda(d: Decider, cmd: SubmitAgenda) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTEE, action="send the agenda")
    require_phase(s, *_RUNNING, action="send an agenda")
    _scheduled(s, cmd.meeting_number, "meeting_number")
    d.emit(ev.AgendaSubmitted(number=cmd.meeting_number, items=cmd.items), actor=cmd.actor)


def log_meeting(d: Decider, cmd: LogMeeting) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, action="log a meeting")
    require_phase(s, *_RUNNING, action="log a meeting")
    number = cmd.meeting_number or (s.next_meeting.number if s.next_meeting else 0)
    _scheduled(s, number, "meeting_number")
    if cmd.held_at > d.now:
        raise Rejected("held_at", "is in the future; log a meeting after it was held")
    if s.agreed_at is not None and cmd.held_at < s.agreed_at:
        raise Rejected("held_at", "is before the agreement was signed; check the date")
    if d.rules.has(Revision.EARLY_LOG_WINDOW) and _far_before(s, number, cmd.held_at):
        if cmd.meeting_number is not None:
            _refuse_far_before(s, number, cmd.held_at)
        number = _extra_meeting(d, number, cmd.held_at)
    assert s.agreement is not None
    d.emit(
        ev.MeetingLogged(
            number=number,
            held_at=cmd.held_at,
            format=cmd.format or s.agreement.format,
            duration_minutes=cmd.duration_minutes,
            notes=cmd.notes,
            action_items=cmd.action_items,
            wins=cmd.wins,
        ),
        actor=cmd.actor,
    )
    if cmd.wins:
        d.notify(
            N.WIN_CELEBRATION,
            f"meeting-{number}:wins",
            PARTIES,
            meeting_number=number,
            wins=cmd.wins,
            logged_by=cmd.actor.role.value,
        )
    schedule_next(d, f"after meeting {number}")


def reschedule(d: Decider, cmd: RescheduleMeeting) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, action="reschedule a meeting")
    require_phase(s, *_RUNNING, action="reschedule a meeting")
    meeting = _scheduled(s, cmd.meeting_number, "meeting_number")
    if cmd.new_time <= d.now:
        raise Rejected("new_time", "is in the past; pick a future date and time")
    if not fits_before_end(s, cmd.new_time):
        raise Rejected("new_time", "falls after the end date; pick an earlier date or extend it")
    previous = meeting.scheduled_at
    d.emit(
        ev.MeetingRescheduled(
            number=meeting.number, at=cmd.new_time, previous_at=previous, reason=cmd.reason
        ),
        actor=cmd.actor,
    )
    _announce_move(d, meeting.number, previous.isoformat(), cmd.reason)


def _announce_move(d: Decider, number: int, previous_at: str, reason: str) -> None:
    moved = d.state.meeting(number)
    assert moved is not None
    d.notify(
        N.MEETING_RESCHEDULED,
        f"meeting-{number}:moved-{moved.reschedules}",
        PARTIES,
        invite=invite_for(d.state, moved, d.rules),
        meeting_number=number,
        meeting_at=moved.scheduled_at.isoformat(),
        previous_at=previous_at,
        reason=reason,
        **(where(d.state) if follows(d) else {}),
    )


def report_progress(d: Decider, cmd: ReportProgress) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, action="report progress")
    require_phase(s, *_RUNNING, Phase.CONCLUDING, action="report progress")
    item = s.action_items.get(cmd.item_id)
    if item is None:
        # Done items leave the state, so an unknown id may be one already done.
        known = ", ".join(sorted(i.id for i in s.open_items())) or "none open"
        raise Rejected(
            "item_id",
            f"no open action item '{cmd.item_id}' (done already, or never given); "
            f"open items: {known}",
        )
    if item.status is ItemStatus.DONE:
        raise Rejected("item_id", f"item {item.id} is already done")
    if cmd.status is ItemStatus.OPEN:
        raise Rejected("status", "report in_progress, done or blocked; 'open' means no report yet")
    d.emit(ev.ProgressReported(item_id=item.id, status=cmd.status, note=cmd.note), actor=cmd.actor)


def schedule_next(d: Decider, cause: str) -> None:
    """Put the next meeting on the calendar, unless one is already there or time is up."""
    s = d.state
    if s.next_meeting is not None or s.cadence is None:
        return
    at = next_slot(s, s.cadence, last_anchor(s), d.now)
    if fits_before_end(s, at):
        number = s.next_meeting_number
        d.emit(ev.MeetingScheduled(number=number, at=at), cause=cause)
        announce_scheduled(d, number, cause)


def rebase_on_cadence(d: Decider, cause: str) -> None:
    """After a cadence change the pending meeting moves to the new rhythm; the confirmed
    first meeting stays where the pair agreed it."""
    s = d.state
    pending = s.next_meeting
    if pending is None or s.cadence is None:
        schedule_next(d, cause)
        return
    if d.rules.has(Revision.MEETINGS_ON_AVAILABILITY) and s.latest_past_slot is None:
        return
    anchor = s.latest_past_slot or s.agreed_at or d.now
    at = next_slot(s, s.cadence, anchor, d.now)
    if at != pending.scheduled_at and fits_before_end(s, at):
        previous = pending.scheduled_at
        d.emit(
            ev.MeetingRescheduled(number=pending.number, at=at, previous_at=previous, reason=cause),
            cause=cause,
        )
        _announce_move(d, pending.number, previous.isoformat(), cause)


# Timers


def prep_prompt(d: Decider, meeting: Meeting) -> None:
    s = d.state
    last_held = [m for m in s.meetings if m.status is MeetingStatus.HELD]
    d.emit(
        ev.ReminderSent(
            purpose="meeting prep", ref=f"meeting-{meeting.number}:prep", to=[Role.MENTEE]
        ),
        cause=f"meeting {meeting.number} is coming up: time to prepare",
    )
    d.notify(
        N.MEETING_PREP,
        f"meeting-{meeting.number}:prep-{meeting.reschedules}",
        [Role.MENTEE],
        expires_at=meeting.scheduled_at,  # preparing for a meeting that has begun cannot help
        meeting_number=meeting.number,
        meeting_at=meeting.scheduled_at.isoformat(),
        open_action_items=[i.description for i in s.open_items()],
        last_notes=last_held[-1].notes if last_held else None,
    )


def meeting_reminder(d: Decider, meeting: Meeting) -> None:
    s = d.state
    d.emit(
        ev.ReminderSent(
            purpose="meeting reminder", ref=f"meeting-{meeting.number}:reminder", to=PARTIES
        ),
        cause=f"meeting {meeting.number} is soon",
    )
    assert s.agreement is not None
    d.notify(
        N.MEETING_REMINDER,
        f"meeting-{meeting.number}:reminder-{meeting.reschedules}",
        PARTIES,
        # From v0.5 the invite went out when the meeting was scheduled: calendars hold it.
        invite=None if follows(d) else invite_for(s, meeting, d.rules),
        expires_at=meeting.scheduled_at,  # a reminder after the meeting began is noise
        meeting_number=meeting.number,
        meeting_at=meeting.scheduled_at.isoformat(),
        format=s.agreement.format.value.replace("_", " "),
        duration_minutes=s.agreement.session_minutes,
        agenda=meeting.agenda or None,
        **(where(s) if follows(d) else {}),
    )


def count_missed(d: Decider, meeting: Meeting) -> None:
    grace = d.state.policy.meeting_grace
    d.emit(
        ev.MeetingMissed(number=meeting.number, scheduled_at=meeting.scheduled_at),
        cause=f"meeting {meeting.number} counted as missed: not logged within {grace.days} days",
    )
    d.notify(
        N.MEETING_MISSED,
        f"meeting-{meeting.number}:missed",
        PARTIES,
        meeting_number=meeting.number,
        meeting_at=meeting.scheduled_at.isoformat(),
        grace_days=grace.days,
    )
    schedule_next(d, f"after missed meeting {meeting.number}")


def _far_before(s: RelationshipState, number: int, held_at: datetime) -> bool:
    """A meeting held a little early is that meeting, and the series keeps its dates; one
    held more than half a cadence before its date is another meeting."""
    meeting = s.meeting(number)
    if meeting is None or s.cadence is None:
        return False
    return held_at < meeting.scheduled_at - s.policy.span(s.cadence.nominal / 2)


def _days_before(s: RelationshipState, number: int, held_at: datetime) -> int:
    meeting = s.meeting(number)
    assert meeting is not None
    return ((meeting.scheduled_at - held_at) * s.policy.time_scale).days


def _refuse_far_before(s: RelationshipState, number: int, held_at: datetime) -> None:
    meeting = s.meeting(number)
    assert meeting is not None
    raise Rejected(
        "held_at",
        f"is {_days_before(s, number, held_at)} days before meeting {number} "
        f"({meeting.scheduled_at:%Y-%m-%d %H:%M} UTC), too early to be that meeting; log it "
        "without a meeting number and it is recorded as an extra meeting",
    )


def _extra_meeting(d: Decider, scheduled: int, held_at: datetime) -> int:
    """Record a meeting the calendar did not have; the scheduled one keeps its date."""
    s = d.state
    number = max([s.next_meeting_number, *(m.number + 1 for m in s.meetings)])
    meeting = s.meeting(scheduled)
    assert meeting is not None
    d.emit(
        ev.MeetingScheduled(number=number, at=held_at),
        cause=(
            f"an extra meeting, held {_days_before(s, scheduled, held_at)} days before meeting "
            f"{scheduled}, which stays on {meeting.scheduled_at:%Y-%m-%d}"
        ),
    )
    return number


def _scheduled(s: RelationshipState, number: int, field_name: str) -> Meeting:
    meeting = s.meeting(number)
    upcoming = s.next_meeting
    hint = f"the next meeting is {upcoming.number}" if upcoming else "no meeting is scheduled"
    if meeting is None and 1 <= number <= s.meetings_held + s.meetings_missed:
        # Past meetings beyond the recent few leave the state; the ledger has them.
        raise Rejected(
            field_name, f"meeting {number} has already taken place or was missed; {hint}"
        )
    if meeting is None:
        raise Rejected(field_name, f"there is no meeting {number}; {hint}")
    if meeting.status is not MeetingStatus.SCHEDULED:
        raise Rejected(field_name, f"meeting {number} was already {meeting.status.value}; {hint}")
    return meeting
