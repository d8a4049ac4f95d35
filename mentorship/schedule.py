"""When things happen: meetings from the cadence, the end date in program time."""

from __future__ import annotations

from datetime import UTC, datetime, time

from mentorship.cadence import Cadence
from mentorship.program_clock import program_moment
from mentorship.state import RelationshipState


def effective_end(state: RelationshipState) -> datetime | None:
    """The moment the planned end date arrives, compressed when the program runs fast."""
    if state.end_date is None:
        return None
    end = datetime.combine(state.end_date, time.min, tzinfo=UTC)
    scale = state.policy.time_scale
    if scale == 1.0 or state.started_at is None:
        return end
    return state.started_at + (end - state.started_at) / scale


def program_time(state: RelationshipState, moment: datetime) -> datetime:
    """Where a moment of the engine's clock falls in program time (the inverse of `span`):
    what a person reads, so that every time they see runs on the end date's clock."""
    return program_moment(state.started_at, state.policy.time_scale, moment)


def next_meeting_time(
    cadence: Cadence, after: datetime, now: datetime, time_scale: float
) -> datetime:
    """The cadence's next slot after `after`, skipping slots already in the past."""
    at = cadence.after(after, time_scale)
    while at <= now:
        at = cadence.after(at, time_scale)
    return at


def fits_before_end(state: RelationshipState, at: datetime) -> bool:
    end = effective_end(state)
    return end is None or at < end


def last_anchor(state: RelationshipState) -> datetime:
    """Where the rhythm continues from: the last meeting's slot, or the agreement.

    Past meetings leave the state, so the latest of their slots is kept on its own.
    """
    slots = [m.scheduled_at for m in state.meetings]
    if state.latest_past_slot is not None:
        slots.append(state.latest_past_slot)
    if slots:
        return max(slots)
    assert state.agreed_at is not None
    return state.agreed_at


def next_slot(s: RelationshipState, cadence: Cadence, anchor: datetime, now: datetime) -> datetime:
    """The cadence's next meeting: on the agreed weekday and time once the pair has one."""
    if s.rhythm is not None:
        return s.rhythm.next_after(cadence, anchor, now)
    return next_meeting_time(cadence, anchor, now, s.policy.time_scale)
