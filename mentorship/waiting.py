"""What a relationship is waiting on, in words an operator can act on."""

from __future__ import annotations

from datetime import UTC

from mentorship.onboarding import missing_parts
from mentorship.participants import Role
from mentorship.schedule import program_time
from mentorship.state import Phase, RelationshipState

_PARTIES = (Role.MENTOR, Role.MENTEE)


def waiting_for(s: RelationshipState) -> list[str]:
    """What the relationship is waiting on, in words."""
    if s.phase is Phase.CONCLUDED:
        return []
    if s.phase is Phase.ONBOARDING:
        return missing_parts(s)
    if s.phase is Phase.PAUSED:
        return ["the operator to resume"]
    if s.phase is Phase.CONCLUDING and s.conclusion is not None:
        return [
            f"closing reflection from the {r.value}"
            for r in _PARTIES
            if r not in s.conclusion.reflections
        ]
    waiting = []
    review = s.open_review
    if review is not None:
        waiting += [
            f"review {review.number} from the {r.value}"
            for r in _PARTIES
            if r not in review.submissions
        ]
    for loop in s.loops:
        if loop.closed_at is None:
            waiting += [f"{m} for loop {loop.number}" for m in loop.missing]
            open_plan = [i for i in loop.plan_item_ids if i in {x.id for x in s.open_items()}]
            if open_plan:
                waiting.append(f"report back on {', '.join(open_plan)}")
    meeting = s.next_meeting
    if meeting is not None:
        at = program_time(s, meeting.scheduled_at).astimezone(UTC)
        waiting.append(f"meeting {meeting.number} on {at:%Y-%m-%d %H:%M} UTC")
    return waiting
