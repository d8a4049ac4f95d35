"""Rule changes that running relationships execute, each switched on by `workflow.patched`.

A relationship lives for years and replays its history on every worker restart, so a rule
it has already applied must decide the same events again. A change to such a rule gets a
`Revision` here and an `if d.rules.has(...)` at the point of change, keeping the old branch.
The workflow turns on each revision with `workflow.patched(revision)` when a run starts:
runs started after the deploy (new pairs, and every pair at its next continue-as-new, at
least once a review) follow the new rule; a run already under way keeps the rules it began
with, so its history still replays. Pure callers (audits, tests) get `CURRENT`.

Retiring one, once no run started before it is left: `workflow.deprecate_patch`, then drop
the old branch and the member in a later release.
"""

from __future__ import annotations

from enum import StrEnum


class Revision(StrEnum):
    # v0.2: cancelling or concluding an at-risk pair appended AtRiskCleared after Concluded.
    NOTHING_AFTER_CONCLUSION = "rules-0.2-nothing-after-conclusion"
    # v0.2: capacity counts meetings as people do (bi-weekly is 2 a month, not 2.2).
    CAPACITY_AS_PEOPLE_COUNT = "rules-0.2-capacity-as-people-count"
    # v0.2: an unanswered review raised at-risk, which at once brought the next review forward.
    NO_REVIEW_CASCADE = "rules-0.2-no-review-cascade"
    # v0.2: onboarding reminders went to both parties, asking for what they could not do yet.
    REMIND_WHO_CAN_ACT = "rules-0.2-remind-who-can-act"
    # v0.2: a summary's duration was wall time, "0 days" for a program run at `time_scale`.
    PROGRAM_TIME_DURATION = "rules-0.2-program-time-duration"
    # v0.2: resuming a pause during onboarding sent the reminders it missed in one burst.
    ONBOARDING_REMINDERS_AFTER_PAUSE = "rules-0.2-onboarding-reminders-after-pause"
    # v0.2: a concluded pair kept its open review, loops, items and at-risk flag.
    CLOSE_OPEN_WORK_AT_CONCLUSION = "rules-0.2-close-open-work-at-conclusion"
    # v0.2: extending the end date with no meeting on the calendar left the extra time empty.
    EXTENSION_SCHEDULES = "rules-0.2-extension-schedules"
    # v0.2: a log long before a meeting's date was taken as that meeting, silently.
    EARLY_LOG_WINDOW = "rules-0.2-early-log-window"
    # v0.3: the first meeting was "now + 7 days" to the microsecond, whatever the mentor's
    # availability, and a cadence change before it moved it off the confirmed time.
    MEETINGS_ON_AVAILABILITY = "rules-0.3-meetings-on-availability"
    # v0.5: a meeting's first invite rode on its reminder, a day ahead; pause, cancel and
    # conclusion sent no CANCEL; resume moved meetings by the pause length, silently.
    CALENDAR_FOLLOWS_SCHEDULE = "rules-0.5-calendar-follows-schedule"


class Rules(frozenset[Revision]):
    """The revisions a run follows."""

    def has(self, revision: Revision) -> bool:
        return revision in self


CURRENT = Rules(Revision)
ORIGINAL = Rules()
