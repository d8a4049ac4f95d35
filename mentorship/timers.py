"""The lifecycle's own clock: what falls due at a moment, and when the next thing does.

`tick(state, now)` acts on everything due by `now`; `next_deadline(state, now)` says when to
wake up next. Each moment `next_deadline` returns is one `tick` resolves, so a workflow that
sleeps until it and ticks always moves forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from mentorship import conclusion, feedback, meetings, reviews
from mentorship import events as ev
from mentorship.decider import Decider, Outcome
from mentorship.decisions import settle
from mentorship.events import Outcome as Ending
from mentorship.health import next_health_check
from mentorship.notifications import NotificationKind as N
from mentorship.onboarding import able_to_act, asks, missing_parts, waiting_on
from mentorship.participants import Role
from mentorship.revisions import CURRENT, Revision, Rules
from mentorship.schedule import effective_end
from mentorship.state import Meeting, Phase, RelationshipState

_RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)


def tick(state: RelationshipState, now: datetime, rules: Rules = CURRENT) -> Outcome:
    d = Decider(state, now, rules)
    if state.phase is Phase.ONBOARDING:
        _onboarding(d)
    elif state.phase is Phase.CONCLUDING:
        _concluding(d)
    elif state.phase in _RUNNING:
        _running(d)
        settle(d)
    return d.outcome()


def next_deadline(
    state: RelationshipState, now: datetime, rules: Rules = CURRENT
) -> datetime | None:
    due = next_wake(state, now, rules)
    return due[0] if due else None


def next_wake(
    state: RelationshipState, now: datetime, rules: Rules = CURRENT
) -> tuple[datetime, str] | None:
    """The next moment the lifecycle acts on its own, and what for ("prep prompt for meeting
    3"): the workflow's timer, and its summary in Temporal's UI."""
    moments = [(at, why) for at, why in _moments(state, now, rules) if at is not None]
    return min(moments, key=lambda m: m[0]) if moments else None


Moment = tuple[datetime | None, str]


def _moments(s: RelationshipState, now: datetime, rules: Rules) -> Iterator[Moment]:
    if s.phase is Phase.ONBOARDING:
        yield _next_onboarding_reminder(s, rules), "onboarding reminder"
        if s.escalated_at is None:
            yield s.onboarding_deadline, "onboarding deadline"
        else:
            yield s.grace_until, "onboarding grace period ends"
    elif s.phase is Phase.CONCLUDING and s.conclusion is not None:
        yield s.conclusion.due_at, "closing reflections due"
    elif s.phase in _RUNNING:
        yield effective_end(s), "planned end date"
        meeting = s.next_meeting
        if meeting is not None:
            yield from _meeting_moments(s, meeting, now)
        for lp in s.loops:
            if lp.missing and not lp.overdue and not lp.closed_at:
                yield lp.due_at, f"feedback loop {lp.number} due"
        for i in s.action_items.values():
            if feedback.report_back_due(s, i) and i.due_at is not None:
                lead = s.policy.span(s.policy.report_back_lead)
                yield i.due_at - lead, f"report-back reminder for {i.id}"
        review = s.open_review
        if review:
            yield review.due_at, f"review {review.number} answers due"
        else:
            yield s.next_review_at, "next review"
        yield next_health_check(s, now), "health check"


# Onboarding


def _next_onboarding_reminder(s: RelationshipState, rules: Rules) -> datetime | None:
    if s.started_at is None or s.onboarding_deadline is None:
        return None
    sent = sum(1 for ref in s.reminders_sent if ref.startswith("onboarding:"))
    start = s.started_at
    if rules.has(Revision.ONBOARDING_REMINDERS_AFTER_PAUSE):
        start += s.onboarding_paused_for  # the rhythm resumes where the pause stopped it
    at = start + s.policy.span(s.policy.onboarding_reminder_every) * (sent + 1)
    return at if at < s.onboarding_deadline else None


def _onboarding(d: Decider) -> None:
    s = d.state
    if s.grace_until is not None and d.now >= s.grace_until:
        conclusion.finish(
            d,
            Ending.NOT_STARTED,
            "onboarding was not completed",
            cause="onboarding not completed by the deadline and grace period",
        )
        return
    assert s.onboarding_deadline is not None
    if s.escalated_at is None and d.now >= s.onboarding_deadline:
        _escalate(d)
        return
    reminder_at = _next_onboarding_reminder(s, d.rules)
    if reminder_at is not None and d.now >= reminder_at:
        _remind_onboarding(d)


def _remind_onboarding(d: Decider) -> None:
    if d.rules.has(Revision.REMIND_WHO_CAN_ACT):
        _remind_who_can_act(d)
        return
    s = d.state
    roles = waiting_on(s)
    number = _record_onboarding_reminder(d, roles)
    if roles:
        d.notify(
            N.ONBOARDING_REMINDER,
            f"onboarding:reminder-{number}",
            roles,
            missing=missing_parts(s),
            deadline=s.onboarding_deadline.isoformat() if s.onboarding_deadline else "",
        )


def _record_onboarding_reminder(d: Decider, roles: list[Role]) -> int:
    """The reminder's event; returns its number, which keys its notifications."""
    number = sum(1 for ref in d.state.reminders_sent if ref.startswith("onboarding:")) + 1
    d.emit(
        ev.ReminderSent(purpose="onboarding", ref=f"onboarding:{number}", to=roles),
        cause="onboarding is not complete yet",
    )
    return number


def _remind_who_can_act(d: Decider) -> None:
    """Each party hears only what they can do now, and how."""
    s = d.state
    roles = able_to_act(s)
    number = _record_onboarding_reminder(d, roles)
    for role in roles:
        d.notify(
            N.ONBOARDING_REMINDER,
            f"onboarding:reminder-{number}:{role.value}",
            [role],
            asks=asks(s, role),
            missing=missing_parts(s),
            deadline=s.onboarding_deadline.isoformat() if s.onboarding_deadline else "",
        )


def _escalate(d: Decider) -> None:
    s = d.state
    grace_until = d.now + s.policy.span(s.policy.onboarding_grace)
    missing = missing_parts(s)
    d.emit(
        ev.OnboardingEscalated(missing=missing, grace_until=grace_until),
        cause="onboarding deadline passed with parts missing",
    )
    parties = able_to_act(s) if d.rules.has(Revision.REMIND_WHO_CAN_ACT) else waiting_on(s)
    to = [Role.OPERATOR, *parties]
    d.notify(
        N.ONBOARDING_ESCALATION,
        "onboarding:escalation",
        to,
        missing=missing,
        deadline=s.onboarding_deadline.isoformat() if s.onboarding_deadline else "",
        grace_until=grace_until.isoformat(),
    )


# Concluding


def _concluding(d: Decider) -> None:
    s = d.state
    assert s.conclusion is not None
    if d.now >= s.conclusion.due_at:
        conclusion.finish(
            d,
            s.conclusion.outcome,
            s.conclusion.reason,
            cause="the reflection deadline passed",
        )


# Running


def _running(d: Decider) -> None:
    s = d.state
    end = effective_end(s)
    if end is not None and d.now >= end:
        assert s.end_date is not None
        conclusion.begin_conclusion(
            d, Ending.COMPLETED, f"the planned end date {s.end_date.isoformat()} was reached"
        )
        return
    _meeting_timers(d)
    for loop in list(d.state.loops):
        if loop.missing and not loop.overdue and not loop.closed_at and d.now >= loop.due_at:
            feedback.mark_overdue(d, loop)
    lead = s.policy.span(s.policy.report_back_lead)
    for item in list(d.state.action_items.values()):
        if feedback.report_back_due(d.state, item) and item.due_at and d.now >= item.due_at - lead:
            feedback.remind_report_back(d, item)
    _review_timers(d)


def _meeting_moments(s: RelationshipState, m: Meeting, now: datetime) -> Iterator[Moment]:
    if now < m.scheduled_at:
        if f"meeting-{m.number}:prep" not in s.reminders_sent:
            yield (
                m.scheduled_at - s.policy.span(s.policy.prep_lead),
                f"prep prompt for meeting {m.number}",
            )
        if f"meeting-{m.number}:reminder" not in s.reminders_sent:
            yield (
                m.scheduled_at - s.policy.span(s.policy.reminder_lead),
                f"reminder for meeting {m.number}",
            )
    yield (
        m.scheduled_at + s.policy.span(s.policy.meeting_grace),
        f"meeting {m.number} missed if not logged",
    )


def _meeting_timers(d: Decider) -> None:
    s = d.state
    meeting = s.next_meeting
    if meeting is None:
        return
    policy = s.policy
    if d.now >= meeting.scheduled_at + policy.span(policy.meeting_grace):
        meetings.count_missed(d, meeting)
        return
    if d.now >= meeting.scheduled_at:
        return
    if (
        f"meeting-{meeting.number}:prep" not in s.reminders_sent
        and d.now >= meeting.scheduled_at - policy.span(policy.prep_lead)
    ):
        meetings.prep_prompt(d, meeting)
    if (
        f"meeting-{meeting.number}:reminder" not in s.reminders_sent
        and d.now >= meeting.scheduled_at - policy.span(policy.reminder_lead)
    ):
        meetings.meeting_reminder(d, d.state.meeting(meeting.number) or meeting)


def _review_timers(d: Decider) -> None:
    s = d.state
    review = s.open_review
    if review is not None:
        if d.now >= review.due_at:
            reviews.close_review(d, f"review {review.number} passed its deadline")
        return
    if s.next_review_at is not None and d.now >= s.next_review_at:
        if s.at_risk:
            detail = "brought forward by warning signs: " + "; ".join(s.risk_reasons)
            reviews.open_review(d, ev.ReviewReason.AT_RISK, detail)
        else:
            reviews.open_review(d, ev.ReviewReason.PERIODIC, "the periodic review is due")
