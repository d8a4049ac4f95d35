"""The working area of one decision: events are folded as they are emitted.

A rule emits events one at a time and reads the state they produce, so a later step of the
same decision (say, scheduling the next meeting after a log) sees the earlier one. Nothing
leaves the decider until the caller takes the outcome, so a rejected command changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mentorship.events import Event, Recorded
from mentorship.fold import mutate
from mentorship.notifications import MeetingInvite, Notification, NotificationKind, Recipient
from mentorship.participants import SYSTEM, Actor, Role
from mentorship.revisions import CURRENT, Rules
from mentorship.state import RelationshipState


class Rejected(ValueError):
    """A command the relationship cannot take, with the field at fault and what to do."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass
class Outcome:
    state: RelationshipState
    recorded: list[Recorded] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.recorded or self.notifications)


class Decider:
    def __init__(self, state: RelationshipState, now: datetime, rules: Rules = CURRENT) -> None:
        self.state = state.model_copy(deep=True)
        self.now = now
        self.rules = rules
        self._outcome = Outcome(state=self.state)

    def emit(self, event: Event, actor: Actor = SYSTEM, cause: str = "") -> Recorded:
        recorded = Recorded(
            relationship_id=self.state.id,
            program=self.state.program or getattr(event, "program", ""),
            seq=self.state.seq + 1,
            occurred_at=self.now,
            actor=actor,
            cause=cause,
            event=event,
        )
        mutate(self.state, recorded)
        self._outcome.recorded.append(recorded)
        return recorded

    def notify(
        self,
        kind: NotificationKind,
        ref: str,
        to: list[Role],
        invite: MeetingInvite | None = None,
        expires_at: datetime | None = None,
        **context: Any,
    ) -> None:
        s = self.state
        recipients = tuple(Recipient(role=role, person=s.party(role)) for role in to)
        base = {
            "program": s.program,
            "relationship_id": s.id,
            "mentor_name": s.mentor.name if s.mentor else "",
            "mentee_name": s.mentee.name if s.mentee else "",
            "kind_of_relationship": s.kind.value,
            "operator_name": s.operator.name if s.operator else "",
            "operator_email": s.operator.email if s.operator else "",
        }
        self._outcome.notifications.append(
            Notification(
                key=f"{s.id}:{ref}",
                kind=kind,
                relationship_id=s.id,
                program=s.program,
                recipients=recipients,
                context={**base, **context},
                invite=invite,
                expires_at=expires_at,
            )
        )

    def outcome(self) -> Outcome:
        return self._outcome


PARTIES = [Role.MENTOR, Role.MENTEE]
EVERYONE = [Role.MENTOR, Role.MENTEE, Role.OPERATOR]
