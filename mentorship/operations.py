"""What a program operator can do to a relationship: pause, resume, extend, re-cadence, cancel."""

from __future__ import annotations

from mentorship import events as ev
from mentorship.capacity import require_fit
from mentorship.commands import Cancel, ChangeCadence, ExtendEndDate, Pause, Resume
from mentorship.conclusion import finish
from mentorship.decider import PARTIES, Decider, Rejected
from mentorship.events import Outcome
from mentorship.guards import require_actor, require_phase
from mentorship.invitations import restore_after_pause, where, withdraw_for_pause
from mentorship.meetings import rebase_on_cadence, schedule_next
from mentorship.notifications import MeetingInvite
from mentorship.notifications import NotificationKind as N
from mentorship.participants import Actor, Role
from mentorship.revisions import Revision
from mentorship.state import Phase, RelationshipState

_LIVE = (Phase.ONBOARDING, Phase.ACTIVE, Phase.UNDER_REVIEW)


def pause(d: Decider, cmd: Pause) -> None:
    require_actor(d.state, cmd.actor, Role.OPERATOR, action="pause a relationship")
    require_phase(d.state, *_LIVE, action="pause")
    rec = d.emit(ev.Paused(reason=cmd.reason), actor=cmd.actor)
    cancel = withdraw_for_pause(d, f"the relationship is paused: {cmd.reason}")
    d.notify(
        N.PAUSED,
        f"paused-{rec.seq}",
        PARTIES,
        invite=cancel,
        reason=cmd.reason,
        by=cmd.actor.id,
        by_name=name_of(d.state, cmd.actor),
        meeting_number=_number(cancel),
        meeting_at=cancel.start.isoformat() if cancel else "",
    )


def resume(d: Decider, cmd: Resume) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.OPERATOR, action="resume a relationship")
    require_phase(s, Phase.PAUSED, action="resume")
    assert s.paused_at is not None
    paused_for = d.now - s.paused_at
    rec = d.emit(ev.Resumed(paused_for_seconds=paused_for.total_seconds()), actor=cmd.actor)
    restored = restore_after_pause(d, paused_for)
    invite, was = restored if restored else (None, "")
    d.notify(
        N.RESUMED,
        f"resumed-{rec.seq}",
        PARTIES,
        invite=invite,
        paused_days=paused_for.days,
        meeting_number=_number(invite),
        meeting_at=invite.start.isoformat() if invite else "",
        previous_at=was,
        **(where(d.state) if invite else {}),
    )


def extend(d: Decider, cmd: ExtendEndDate) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.OPERATOR, action="extend the end date")
    require_phase(s, *_LIVE, Phase.PAUSED, action="extend the end date")
    if cmd.end_date <= d.now.date():
        raise Rejected("end_date", "is not in the future; give a later date")
    if s.end_date is not None and cmd.end_date <= s.end_date:
        raise Rejected("end_date", f"must be after the current end date {s.end_date.isoformat()}")
    rec = d.emit(ev.EndDateExtended(end_date=cmd.end_date, previous=s.end_date), actor=cmd.actor)
    if d.rules.has(Revision.EXTENSION_SCHEDULES) and d.state.phase in (
        Phase.ACTIVE,
        Phase.UNDER_REVIEW,
    ):
        schedule_next(d, f"the end date moved to {cmd.end_date.isoformat()}")
    upcoming = d.state.next_meeting
    d.notify(
        N.END_DATE_EXTENDED,
        f"extended-{rec.seq}",
        PARTIES,
        end_date=cmd.end_date.isoformat(),
        next_meeting=upcoming.scheduled_at.isoformat() if upcoming else "",
    )


def change_cadence(d: Decider, cmd: ChangeCadence) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.OPERATOR, action="change the cadence")
    require_phase(s, Phase.ACTIVE, Phase.UNDER_REVIEW, action="change the cadence")
    if s.cadence == cmd.cadence:
        raise Rejected("cadence", f"is already {cmd.cadence.describe()}")
    if s.commitment:
        require_fit("cadence", cmd.cadence, s.commitment.capacity_per_month, d.rules)
    rec = d.emit(ev.CadenceChanged(cadence=cmd.cadence, reason=cmd.reason), actor=cmd.actor)
    d.notify(
        N.CADENCE_CHANGED,
        f"cadence-{rec.seq}",
        PARTIES,
        cadence=cmd.cadence.describe(),
        by=cmd.actor.id,
        by_name=name_of(d.state, cmd.actor),
    )
    rebase_on_cadence(d, f"cadence changed to {cmd.cadence.describe()}")


def cancel(d: Decider, cmd: Cancel) -> None:
    require_actor(d.state, cmd.actor, Role.OPERATOR, action="cancel a relationship")
    require_phase(d.state, *_LIVE, Phase.PAUSED, Phase.CONCLUDING, action="cancel")
    finish(d, Outcome.CANCELLED, f"cancelled by the operator: {cmd.reason}", actor=cmd.actor)


def name_of(s: RelationshipState, actor: Actor) -> str:
    """The name people know an operator by; another operator on the roster by their id."""
    if s.operator is not None and s.operator.id == actor.id:
        return s.operator.name
    return actor.id


def _number(invite: MeetingInvite | None) -> int | None:
    return invite.meeting_number if invite else None
