"""Search attributes that make relationships findable in Temporal's visibility store.

The runtime and the tests register them on the server before any workflow upserts them.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

PHASE = SearchAttributeKey.for_keyword("MentorshipPhase")
PROGRAM = SearchAttributeKey.for_keyword("MentorshipProgram")
MENTOR = SearchAttributeKey.for_keyword("MentorshipMentor")
MENTEE = SearchAttributeKey.for_keyword("MentorshipMentee")
KIND = SearchAttributeKey.for_keyword("MentorshipKind")
AT_RISK = SearchAttributeKey.for_bool("MentorshipAtRisk")
NEXT_MEETING = SearchAttributeKey.for_datetime("MentorshipNextMeeting")
LEDGER_BLOCKED = SearchAttributeKey.for_bool("MentorshipLedgerBlocked")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    PHASE,
    PROGRAM,
    MENTOR,
    MENTEE,
    KIND,
    AT_RISK,
    NEXT_MEETING,
    LEDGER_BLOCKED,
)


def initial(program: str, mentor: str, mentee: str, kind: str) -> TypedSearchAttributes:
    """What a relationship is indexed by from the moment it starts."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(PHASE, "onboarding"),
            SearchAttributePair(PROGRAM, program),
            SearchAttributePair(MENTOR, mentor),
            SearchAttributePair(MENTEE, mentee),
            SearchAttributePair(KIND, kind),
            SearchAttributePair(AT_RISK, False),
        ]
    )
