"""Checks every rule shares: is this the right phase, and the right person?"""

from __future__ import annotations

from mentorship.decider import Rejected
from mentorship.participants import Actor, Role
from mentorship.state import Phase, RelationshipState

_PHASE_HINT = {
    Phase.ONBOARDING: "finish onboarding first (goals, commitment, agreement)",
    Phase.PAUSED: "the relationship is paused; ask the program operator to resume it",
    Phase.CONCLUDING: "the relationship is concluding; only closing reflections are taken",
    Phase.CONCLUDED: "the relationship has concluded",
    Phase.UNDER_REVIEW: "a review is open; submit the review first",
    Phase.ACTIVE: "the relationship is active",
}


def require_phase(state: RelationshipState, *phases: Phase, action: str) -> None:
    if state.phase not in phases:
        allowed = " or ".join(p.value for p in phases)
        raise Rejected(
            "phase",
            f"cannot {action} while {state.phase.value} (needs {allowed}); "
            f"{_PHASE_HINT[state.phase]}",
        )


def require_actor(state: RelationshipState, actor: Actor, *roles: Role, action: str) -> None:
    """The actor must hold one of `roles` in this relationship, under their own id."""
    if actor.role not in roles:
        who = " or ".join(r.value for r in roles)
        raise Rejected("actor.role", f"only the {who} can {action}, not the {actor.role.value}")
    if actor.role in (Role.MENTOR, Role.MENTEE):
        party = state.party(actor.role)
        if actor.id != party.id:
            raise Rejected(
                "actor.id",
                f"'{actor.id}' is not the {actor.role.value} of this relationship "
                f"({party.id}); act as yourself",
            )
