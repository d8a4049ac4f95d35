"""Does a cadence fit the mentor's capacity? Counted the way people count meetings.

A mentor who offers two meetings a month means bi-weekly; the calendar's 2.2 is not what
they agreed to. Named cadences count as weekly 4, bi-weekly 2, monthly 1, quarterly 1/3 a
month; every N days as 30/N.
"""

from __future__ import annotations

from mentorship.cadence import Cadence, CadenceKind
from mentorship.decider import Rejected
from mentorship.revisions import Revision, Rules

_COUNTED = {
    CadenceKind.WEEKLY: 4.0,
    CadenceKind.BIWEEKLY: 2.0,
    CadenceKind.MONTHLY: 1.0,
    CadenceKind.QUARTERLY: 1 / 3,
}
NAMED = tuple(Cadence(kind=k) for k in _COUNTED)


def per_month(cadence: Cadence) -> float:
    """Meetings a month, as a person counts them."""
    if cadence.kind in _COUNTED:
        return _COUNTED[cadence.kind]
    assert cadence.every_days is not None
    return 30 / cadence.every_days


def fits(cadence: Cadence, capacity: float, rules: Rules) -> bool:
    if rules.has(Revision.CAPACITY_AS_PEOPLE_COUNT):
        return per_month(cadence) <= capacity + 1e-9
    return cadence.meetings_per_month <= capacity + 0.05  # up to v0.1: calendar arithmetic


def require_fit(field: str, cadence: Cadence, capacity: float, rules: Rules) -> None:
    """Refuse a cadence past the mentor's capacity, naming the ones that fit."""
    if fits(cadence, capacity, rules):
        return
    fitting = [c.describe() for c in NAMED if fits(c, capacity, rules)]
    count = (
        per_month(cadence)
        if rules.has(Revision.CAPACITY_AS_PEOPLE_COUNT)
        else (cadence.meetings_per_month)
    )
    choice = (
        f"{' or '.join(fitting)} fit; choose one (for example `--cadence {fitting[0]}`)"
        if fitting
        else "no named cadence fits; agree on 'every N days' with a larger N"
    )
    raise Rejected(
        field,
        f"{cadence.describe()} is {count:.2g} meetings a month, more than the mentor's "
        f"capacity of {capacity:g}; {choice}",
    )
