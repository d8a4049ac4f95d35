"""What calendars are told: an invite when a meeting is scheduled, an update with a higher
SEQUENCE on every move, a CANCEL for every meeting that will not happen (v0.5).

Before v0.5 (`Revision.CALENDAR_FOLLOWS_SCHEDULE`) a meeting's first invite rode on its
reminder, nothing was ever cancelled, and resume moved meetings by the pause length.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mentorship import events as ev
from mentorship.decider import PARTIES, Decider
from mentorship.notifications import MeetingInvite
from mentorship.notifications import NotificationKind as N
from mentorship.revisions import CURRENT, Revision, Rules
from mentorship.schedule import next_slot
from mentorship.state import Meeting, MeetingStatus, RelationshipState

RESUMED_REASON = "the relationship resumed; meetings keep their agreed day and time"


def follows(d: Decider) -> bool:
    return d.rules.has(Revision.CALENDAR_FOLLOWS_SCHEDULE)


def scheduled(s: RelationshipState) -> list[Meeting]:
    return [m for m in s.meetings if m.status is MeetingStatus.SCHEDULED]


def where(s: RelationshipState) -> dict[str, Any]:
    """Where the pair meets, for the emails: the call's link, the place."""
    terms = s.agreement
    if terms is None:
        return {}
    return {"link": terms.link or "", "place": terms.place or ""}


def announce_scheduled(d: Decider, number: int, cause: str) -> None:
    """The slot is held from the moment it is decided, not from the day-ahead reminder."""
    if not follows(d):
        return
    meeting = d.state.meeting(number)
    assert meeting is not None
    d.notify(
        N.MEETING_SCHEDULED,
        f"meeting-{number}:scheduled",
        PARTIES,
        invite=invite_for(d.state, meeting, d.rules),
        meeting_number=number,
        meeting_at=meeting.scheduled_at.isoformat(),
        cause=cause,
        format=d.state.agreement.format.value.replace("_", " ") if d.state.agreement else "",
        **where(d.state),
    )


def withdraw_for_pause(d: Decider, reason: str) -> MeetingInvite | None:
    """Take every scheduled meeting off both calendars; the pause email carries the first
    CANCEL, any other meeting gets its own."""
    if not follows(d):
        return None
    cancels: list[tuple[int, MeetingInvite]] = []
    for meeting in scheduled(d.state):
        d.emit(ev.MeetingWithdrawn(number=meeting.number, reason=reason), cause=reason)
        withdrawn = d.state.meeting(meeting.number)
        assert withdrawn is not None
        cancels.append((meeting.number, invite_for(d.state, withdrawn, d.rules, cancelled=True)))
    for number, extra in cancels[1:]:
        _send_cancel(d, number, extra, reason)
    return cancels[0][1] if cancels else None


def restore_after_pause(d: Decider, paused_for: timedelta) -> tuple[MeetingInvite, str] | None:
    """After `Resumed` (whose fold shifts meetings by the pause), each meeting goes back to
    where it was, or, if that has passed, to the next slot on the agreed rhythm. Returns the
    first meeting's invite and where it was, for the resume email."""
    s = d.state
    if not follows(d) or s.cadence is None:
        return None
    restored: list[tuple[MeetingInvite, str]] = []
    for meeting in scheduled(s):
        was = meeting.scheduled_at - paused_for
        at = was if was > d.now else next_slot(s, s.cadence, was, d.now)
        d.emit(
            ev.MeetingRescheduled(
                number=meeting.number, at=at, previous_at=was, reason=RESUMED_REASON
            ),
            cause=RESUMED_REASON,
        )
        moved = d.state.meeting(meeting.number)
        assert moved is not None
        restored.append((invite_for(d.state, moved, d.rules), was.isoformat()))
    return restored[0] if restored else None


def cancel_for_ending(d: Decider, meetings: list[Meeting], reason: str) -> None:
    """Meetings the conclusion dropped: each gets a CANCEL, unless a pause withdrew it."""
    if not follows(d):
        return
    for meeting in meetings:
        if not meeting.withdrawn:
            invite = invite_for(
                d.state, meeting, d.rules, cancelled=True, sequence=meeting.sequence + 1
            )
            _send_cancel(d, meeting.number, invite, reason)


def _send_cancel(d: Decider, number: int, invite: MeetingInvite, reason: str) -> None:
    d.notify(
        N.MEETING_CANCELLED,
        f"meeting-{number}:cancelled-{invite.sequence}",
        PARTIES,
        invite=invite,
        meeting_number=number,
        meeting_at=invite.start.isoformat(),
        reason=reason,
    )


def invite_for(
    state: RelationshipState,
    meeting: Meeting,
    rules: Rules = CURRENT,
    *,
    cancelled: bool = False,
    sequence: int | None = None,
) -> MeetingInvite:
    """The meeting as calendars hold it. From v0.5 SEQUENCE counts every change calendars saw
    (`Meeting.sequence`); before it, only the moves."""
    terms = state.agreement
    minutes = terms.session_minutes if terms else 60
    fmt = terms.format.value.replace("_", " ") if terms else ""
    mentor = state.mentor.name if state.mentor else "mentor"
    mentee = state.mentee.name if state.mentee else "mentee"
    follows = rules.has(Revision.CALENDAR_FOLLOWS_SCHEDULE)
    if sequence is None:
        sequence = meeting.sequence if follows else meeting.reschedules
    link = (terms.link or "") if terms and follows else ""
    place = (terms.place or "") if terms and follows else ""
    details = [f"{state.program} mentoring, {fmt}"]
    details += [f"Join: {link}"] if link else []
    details += [f"Where: {place}"] if place else []
    return MeetingInvite(
        uid=f"{state.id}-meeting-{meeting.number}@mentorflow",
        meeting_number=meeting.number,
        sequence=sequence,
        start=meeting.scheduled_at,
        duration=timedelta(minutes=minutes),
        summary=f"Mentoring session {meeting.number}: {mentor} and {mentee}",
        description="\n".join(details),
        location=place or link or fmt,
        url=link,
        cancelled=cancelled,
    )
