"""A graceful conclusion: reflections from both, with a deadline, then a summary for all."""

from __future__ import annotations

from datetime import timedelta

from mentorship import events as ev
from mentorship.commands import Conclude, SubmitReflection
from mentorship.decider import EVERYONE, PARTIES, Decider, Rejected
from mentorship.events import Outcome
from mentorship.guards import require_actor, require_phase
from mentorship.invitations import cancel_for_ending, scheduled
from mentorship.notifications import NotificationKind as N
from mentorship.participants import Actor, Role
from mentorship.revisions import Revision
from mentorship.schedule import effective_end
from mentorship.state import Phase, RelationshipState

_LIVE = (Phase.ONBOARDING, Phase.ACTIVE, Phase.UNDER_REVIEW, Phase.PAUSED)


def conclude(d: Decider, cmd: Conclude) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, Role.OPERATOR, action="conclude")
    require_phase(s, *_LIVE, action="conclude")
    reason = f"{cmd.actor.role.value} concluded: {cmd.reason}"
    if s.phase is Phase.ONBOARDING or (s.phase is Phase.PAUSED and s.agreement is None):
        finish(d, Outcome.NOT_STARTED, reason, actor=cmd.actor)
        return
    end = effective_end(s)
    outcome = Outcome.COMPLETED if end is not None and d.now >= end else Outcome.CONCLUDED_EARLY
    begin_conclusion(d, outcome, reason, actor=cmd.actor)


def begin_conclusion(d: Decider, outcome: Outcome, reason: str, actor: Actor | None = None) -> None:
    s = d.state
    due = d.now + s.policy.span(s.policy.reflection_due)
    started = ev.ConclusionStarted(reason=reason, outcome=outcome, due_at=due)
    dropped = scheduled(s)
    if actor is None:
        d.emit(started, cause=reason)
    else:
        d.emit(started, actor=actor)
    cancel_for_ending(d, dropped, _ending(outcome, reason))
    d.notify(
        N.REFLECTION_REQUEST,
        "conclusion:reflection",
        PARTIES,
        due_at=due.isoformat(),
        reason=reason,
    )


def submit_reflection(d: Decider, cmd: SubmitReflection) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, action="submit a closing reflection")
    require_phase(s, Phase.CONCLUDING, action="submit a reflection")
    assert s.conclusion is not None
    if cmd.actor.role in s.conclusion.reflections:
        raise Rejected("actor", f"the {cmd.actor.role.value} already submitted a reflection")
    unknown = sorted(set(cmd.goals_met) - set(s.goals.objectives if s.goals else {}))
    if unknown:
        known = ", ".join(f"{k} ({v})" for k, v in s.objectives.items())
        raise Rejected("goals_met", f"unknown objective {', '.join(unknown)}; objectives: {known}")
    d.emit(
        ev.ReflectionSubmitted(
            by=cmd.actor.role,
            highlights=cmd.highlights,
            wins=cmd.wins,
            goals_met=cmd.goals_met,
            next_steps=cmd.next_steps,
        ),
        actor=cmd.actor,
    )
    conclusion = d.state.conclusion
    assert conclusion is not None
    if len(conclusion.reflections) == len(PARTIES):
        finish(d, conclusion.outcome, conclusion.reason, cause="both reflections are in")


def finish(
    d: Decider, outcome: Outcome, reason: str, actor: Actor | None = None, cause: str = ""
) -> None:
    if d.rules.has(Revision.CLOSE_OPEN_WORK_AT_CONCLUSION):
        close_open_work(d, outcome, reason)
    summary = summarise(d.state, d)
    concluded = ev.Concluded(outcome=outcome, reason=reason, summary=summary)
    dropped = scheduled(d.state)
    if actor is None:
        d.emit(concluded, cause=cause or reason)
    else:
        d.emit(concluded, actor=actor)
    cancel_for_ending(d, dropped, _ending(outcome, reason))
    d.notify(
        N.NOT_STARTED if outcome is Outcome.NOT_STARTED else N.SUMMARY,
        "summary",
        EVERYONE,
        outcome=outcome.value,
        reason=reason,
        **summary.model_dump(),
    )


def _ending(outcome: Outcome, reason: str) -> str:
    return f"the relationship ended ({outcome.value.replace('_', ' ')}): {reason}"


def close_open_work(d: Decider, outcome: Outcome, reason: str) -> None:
    """Nothing waits on a relationship that ended: its open review, loops and items close,
    and the at-risk flag clears, each with the reason, before `Concluded`."""
    s = d.state
    review = s.open_review
    loops = [lp.number for lp in s.loops if lp.closed_at is None]
    items = [i.id for i in s.open_items()]
    why = _ending(outcome, reason)
    if review is not None or loops or items:
        d.emit(
            ev.OpenWorkClosed(
                review=review.number if review else None, loops=loops, items=items, reason=why
            ),
            cause=why,
        )
    if s.at_risk:
        d.emit(ev.AtRiskCleared(), cause=why)


def _program_days(s: RelationshipState, d: Decider, elapsed: timedelta) -> int:
    """Days as the program counts them: a demo run at `time_scale` 1000 lasted its weeks."""
    if d.rules.has(Revision.PROGRAM_TIME_DURATION):
        return (elapsed * s.policy.time_scale).days
    return elapsed.days


def summarise(s: RelationshipState, d: Decider) -> ev.Summary:
    start = s.started_at or d.now
    met: list[str] = []
    reflections = s.conclusion.reflections.values() if s.conclusion else []
    objectives = s.goals.objectives if s.goals else {}
    for goal_id in dict.fromkeys(g for r in reflections for g in r.goals_met):
        met.append(objectives.get(goal_id, goal_id))
    wins = s.meeting_wins + [w for r in reflections for w in r.wins]
    return ev.Summary(
        duration_days=_program_days(s, d, d.now - start),
        meetings_held=s.meetings_held,
        meetings_missed=s.meetings_missed,
        loops_closed=s.loops_closed,
        objectives_met=met,
        wins=list(dict.fromkeys(wins)),
    )
