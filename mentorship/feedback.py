"""Feedback loops: both directions, an action plan, and the report back that closes it."""

from __future__ import annotations

from datetime import timedelta

from mentorship import events as ev
from mentorship.commands import GiveMenteeFeedback, GiveMentorFeedback, ItemStatus
from mentorship.decider import PARTIES, Decider, Rejected
from mentorship.guards import require_actor, require_phase
from mentorship.notifications import NotificationKind as N
from mentorship.participants import Role
from mentorship.state import ActionItem, FeedbackLoop, Phase, RelationshipState

_RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)


def maybe_request(d: Decider) -> None:
    """Every N meetings held, ask both sides for feedback, unless a loop is still waiting."""
    s = d.state
    if s.phase not in _RUNNING or s.held_since_loop < s.policy.feedback_every_meetings:
        return
    if any(lp.missing and lp.closed_at is None for lp in s.loops):
        return
    number = s.loops_requested + 1
    due = d.now + s.policy.span(s.policy.feedback_due)
    d.emit(
        ev.FeedbackRequested(loop=number, due_at=due),
        cause=f"{s.policy.feedback_every_meetings} meetings held since the last feedback",
    )
    d.notify(
        N.FEEDBACK_REQUEST,
        f"loop-{number}:request",
        PARTIES,
        loop_number=number,
        due_at=due.isoformat(),
    )


def give_mentor_feedback(d: Decider, cmd: GiveMentorFeedback) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, action="give mentor feedback")
    require_phase(s, *_RUNNING, action="give feedback")
    loop = _awaiting(s, cmd.loop_number)
    if loop.mentor_strengths is not None:
        raise Rejected("loop_number", f"mentor feedback for loop {loop.number} is already in")
    plan = [
        ev.ActionPlanItem(
            id=f"f{loop.number}-{i}",
            description=area.suggested_step,
            due_at=d.now
            + s.policy.span(
                timedelta(days=area.due_in_days) if area.due_in_days else s.policy.action_item_due
            ),
        )
        for i, area in enumerate(cmd.development_areas, start=1)
    ]
    d.emit(
        ev.MentorFeedbackGiven(
            loop=loop.number,
            strengths=cmd.strengths,
            development_areas=[ev.stored(ev.AreaToDevelop, a) for a in cmd.development_areas],
            plan=plan,
        ),
        actor=cmd.actor,
    )
    d.notify(
        N.ACTION_PLAN,
        f"loop-{loop.number}:plan",
        [Role.MENTEE, Role.MENTOR],
        loop_number=loop.number,
        strengths=cmd.strengths,
        development_areas=[a.behaviour for a in cmd.development_areas],
        items=[
            {"id": p.id, "description": p.description, "due": p.due_at.isoformat()} for p in plan
        ],
    )


def give_mentee_feedback(d: Decider, cmd: GiveMenteeFeedback) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTEE, action="give mentee feedback")
    require_phase(s, *_RUNNING, action="give feedback")
    loop = _awaiting(s, cmd.loop_number)
    if loop.mentee_what_helps is not None:
        raise Rejected("loop_number", f"mentee feedback for loop {loop.number} is already in")
    d.emit(
        ev.MenteeFeedbackGiven(
            loop=loop.number, what_helps=cmd.what_helps, what_to_change=cmd.what_to_change
        ),
        actor=cmd.actor,
    )


def close_finished_loops(d: Decider) -> None:
    for loop in list(d.state.loops):
        if loop.closed_at is None and not loop.missing and _plan_done(d.state, loop):
            d.emit(
                ev.LoopClosed(loop=loop.number),
                cause="both sides gave feedback and every action plan item is reported done",
            )
            d.notify(N.LOOP_CLOSED, f"loop-{loop.number}:closed", PARTIES, loop_number=loop.number)


def mark_overdue(d: Decider, loop: FeedbackLoop) -> None:
    d.emit(
        ev.LoopOverdue(loop=loop.number, missing=loop.missing),
        cause=f"feedback loop {loop.number} passed its due date",
    )


def remind_report_back(d: Decider, item: ActionItem) -> None:
    loop_number = item.source.removeprefix("feedback loop ")
    d.emit(
        ev.ReminderSent(purpose="report back", ref=f"item-{item.id}:report", to=[Role.MENTEE]),
        cause=f"action item {item.id} is due soon",
    )
    d.notify(
        N.REPORT_BACK_REMINDER,
        f"item-{item.id}:report",
        [Role.MENTEE],
        loop_number=loop_number,
        open_items=[item.description],
        due_at=item.due_at.isoformat() if item.due_at else "",
    )


def report_back_due(s: RelationshipState, item: ActionItem) -> bool:
    return (
        item.source.startswith("feedback")
        and item.status is not ItemStatus.DONE
        and item.due_at is not None
        and f"item-{item.id}:report" not in s.reminders_sent
    )


def _plan_done(s: RelationshipState, loop: FeedbackLoop) -> bool:
    """Done items leave the state, so a plan item no longer there is a done one."""
    return all(
        i not in s.action_items or s.action_items[i].status is ItemStatus.DONE
        for i in loop.plan_item_ids
    )


def _awaiting(s: RelationshipState, number: int) -> FeedbackLoop:
    for loop in s.loops:
        if loop.number == number:
            if loop.closed_at is not None:
                raise Rejected("loop_number", f"feedback loop {number} is already closed")
            return loop
    if 1 <= number <= s.loops_requested:
        # Closed loops but the last leave the state; every other requested one is closed.
        raise Rejected("loop_number", f"feedback loop {number} is already closed")
    open_numbers = [str(lp.number) for lp in s.loops if lp.closed_at is None]
    hint = f"open loops: {', '.join(open_numbers)}" if open_numbers else "no loop is open"
    raise Rejected("loop_number", f"there is no feedback loop {number}; {hint}")
