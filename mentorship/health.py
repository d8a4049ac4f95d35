"""Warning signs: what puts a relationship at risk at a given moment."""

from __future__ import annotations

from datetime import datetime

from mentorship.commands import ItemStatus
from mentorship.state import Phase, RelationshipState

_WATCHED = {Phase.ACTIVE, Phase.UNDER_REVIEW}


def silence_limit(state: RelationshipState) -> datetime | None:
    """When the pair will have been quiet for longer than their cadence allows."""
    if state.phase not in _WATCHED or state.cadence is None or state.last_activity_at is None:
        return None
    window = state.cadence.nominal * state.policy.silence_factor
    return state.last_activity_at + state.policy.span(window)


def risk_reasons(state: RelationshipState, now: datetime) -> list[str]:
    """Each warning sign in force now, in words an operator can act on."""
    if state.phase not in _WATCHED:
        return []
    reasons: list[str] = []
    threshold = state.policy.missed_in_a_row_for_risk
    if state.missed_in_a_row >= threshold:
        reasons.append(f"{state.missed_in_a_row} meetings missed in a row")
    limit = silence_limit(state)
    if limit is not None and now >= limit and state.last_activity_at is not None:
        days = (now - state.last_activity_at).days
        reasons.append(f"no activity for {days} days, longer than the cadence allows")
    reasons.extend(
        f"feedback loop {lp.number} overdue: waiting for {', '.join(lp.missing)}"
        for lp in state.loops
        if lp.overdue and lp.closed_at is None and lp.missing
    )
    reasons.extend(
        f"action item {item.id} overdue: {item.description}"
        for item in state.action_items.values()
        if item.source.startswith("feedback")
        and item.status is not ItemStatus.DONE
        and item.due_at is not None
        and now >= item.due_at
    )
    reasons.extend(unanswered_reviews(state))
    return reasons


def unanswered_reviews(state: RelationshipState) -> list[str]:
    """The last review, decided without both parties' answers and nothing heard since."""
    if not state.reviews or state.reviews[-1].decided_at is None:
        return []
    last = state.reviews[-1]
    decided_at = last.decided_at
    assert decided_at is not None
    quiet = state.last_activity_at is None or state.last_activity_at <= decided_at
    answered = {role.value for role in last.submissions}
    missing = [role for role in ("mentor", "mentee") if role not in answered]
    if missing and quiet:
        return [f"review {last.number} went unanswered by {' and '.join(missing)}"]
    return []


def next_health_check(state: RelationshipState, now: datetime) -> datetime | None:
    """The next moment after `now` a warning sign could appear without anyone acting."""
    if state.phase not in _WATCHED:
        return None
    moments = [
        item.due_at
        for item in state.action_items.values()
        if item.source.startswith("feedback")
        and item.status is not ItemStatus.DONE
        and item.due_at is not None
    ]
    limit = silence_limit(state)
    if limit is not None and state.next_meeting is None:
        # With a meeting on the calendar its own timers wake the lifecycle well before the
        # silence limit; a timer chasing every new activity would only churn history.
        moments.append(limit)
    upcoming = [m for m in moments if m > now]
    return min(upcoming) if upcoming else None
