"""Re-evaluation: periodic, early when at risk, or on request; continue, evolve or conclude."""

from __future__ import annotations

from mentorship import events as ev
from mentorship.cadence import Cadence
from mentorship.capacity import require_fit
from mentorship.commands import RequestReview, SubmitReview
from mentorship.conclusion import begin_conclusion
from mentorship.decider import PARTIES, Decider, Rejected
from mentorship.events import Change, Outcome
from mentorship.guards import require_actor, require_phase
from mentorship.meetings import rebase_on_cadence
from mentorship.notifications import NotificationKind as N
from mentorship.participants import Role
from mentorship.revisions import Rules
from mentorship.state import Phase, RelationshipState
from mentorship.vocabulary import ReviewDecision

Choice = tuple[ReviewDecision, Change | None]


def decide_review(choices: list[Choice]) -> Choice:
    """Any conclude concludes; otherwise any evolve evolves, merging both proposals."""
    decisions = {decision for decision, _ in choices}
    if ReviewDecision.CONCLUDE in decisions:
        return ReviewDecision.CONCLUDE, None
    proposals = [evolution for _, evolution in choices if evolution is not None]
    if ReviewDecision.EVOLVE in decisions and proposals:
        return ReviewDecision.EVOLVE, merge_evolutions(proposals)
    return ReviewDecision.CONTINUE, None


def merge_evolutions(proposals: list[Change]) -> Change:
    """Both sides' changes together; of two cadences the thinner wins, to respect capacity."""
    cadences = [p.cadence for p in proposals if p.cadence is not None]
    formats = [p.format for p in proposals if p.format is not None]
    added = list(dict.fromkeys(o for p in proposals for o in p.add_objectives))
    retired = list(dict.fromkeys(o for p in proposals for o in p.retire_objectives))
    return Change(
        cadence=_thinnest(cadences),
        format=formats[0] if formats else None,
        add_objectives=added,
        retire_objectives=retired,
    )


def _thinnest(cadences: list[Cadence]) -> Cadence | None:
    return max(cadences, key=lambda c: c.nominal) if cadences else None


def request_review(d: Decider, cmd: RequestReview) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, Role.OPERATOR, action="request a review")
    require_phase(s, Phase.ACTIVE, action="request a review")
    detail = f"requested by the {cmd.actor.role.value}: {cmd.reason}"
    open_review(d, ev.ReviewReason.REQUESTED, detail)


def open_review(d: Decider, reason: ev.ReviewReason, detail: str) -> None:
    s = d.state
    number = s.reviews_opened + 1
    due = d.now + s.policy.span(s.policy.review_due)
    d.emit(
        ev.ReviewOpened(number=number, reason=reason, detail=detail, due_at=due),
        cause=detail,
    )
    d.notify(
        N.REVIEW_REQUEST,
        f"review-{number}:request",
        PARTIES,
        review_number=number,
        due_at=due.isoformat(),
        reason=detail,
        objectives=s.objectives,
    )


def submit_review(d: Decider, cmd: SubmitReview) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, action="submit a review")
    require_phase(s, Phase.UNDER_REVIEW, action="submit a review")
    review = s.open_review
    assert review is not None
    if cmd.review_number != review.number:
        raise Rejected("review_number", f"review {review.number} is the open one")
    if cmd.actor.role in review.submissions:
        raise Rejected(
            "review_number",
            f"the {cmd.actor.role.value} already submitted review {review.number}",
        )
    _check_ratings(s, cmd)
    _check_evolution(s, cmd, d.rules)
    d.emit(
        ev.ReviewSubmitted(
            number=review.number,
            by=cmd.actor.role,
            effectiveness=cmd.effectiveness,
            progress=cmd.progress,
            decision=cmd.decision,
            evolution=ev.stored(ev.Change, cmd.evolution) if cmd.evolution else None,
            comment=cmd.comment,
        ),
        actor=cmd.actor,
    )
    if len(d.state.reviews[-1].submissions) == len(PARTIES):
        close_review(d, "both parties submitted their review")


def close_review(d: Decider, cause: str) -> None:
    """Decide from what was submitted; no answer at all counts as continue."""
    s = d.state
    review = s.open_review
    assert review is not None
    choices = [(entry.decision, entry.evolution) for entry in review.submissions.values()]
    decision, evolution = decide_review(choices)
    unanswered = [r for r in PARTIES if r not in review.submissions]
    # Periodic reviews keep their rhythm however long a review takes to answer.
    anchor = review.opened_at if review.reason is ev.ReviewReason.PERIODIC else d.now
    next_review = anchor + s.policy.span(s.policy.review_every)
    d.emit(
        ev.ReviewDecided(
            number=review.number,
            decision=decision,
            evolution=evolution,
            next_review_at=next_review,
            unanswered=unanswered,
        ),
        cause=cause,
    )
    d.notify(
        N.REVIEW_OUTCOME,
        f"review-{review.number}:outcome",
        PARTIES,
        decision=decision.value,
        choices={role.value: entry.decision.value for role, entry in review.submissions.items()},
        cadence=d.state.cadence.describe() if d.state.cadence else "",
        objectives=list(d.state.objectives.values()),
    )
    if decision is ReviewDecision.CONCLUDE:
        begin_conclusion(d, Outcome.COMPLETED, f"review {review.number} decided to conclude")
    elif evolution is not None and evolution.cadence is not None:
        rebase_on_cadence(d, f"review {review.number} evolved the cadence")


def _check_ratings(s: RelationshipState, cmd: SubmitReview) -> None:
    unknown = sorted(set(cmd.progress) - set(s.objectives))
    if unknown:
        known = ", ".join(f"{k} ({v})" for k, v in s.objectives.items())
        raise Rejected("progress", f"unknown objective {', '.join(unknown)}; rate these: {known}")


def _check_evolution(s: RelationshipState, cmd: SubmitReview, rules: Rules) -> None:
    evolution = cmd.evolution
    if cmd.decision is ReviewDecision.EVOLVE and (evolution is None or evolution.is_empty()):
        raise Rejected(
            "evolution",
            "decision 'evolve' needs at least one change: cadence, format, or objectives",
        )
    if cmd.decision is not ReviewDecision.EVOLVE and evolution is not None:
        raise Rejected("evolution", f"only goes with decision 'evolve', not '{cmd.decision}'")
    if evolution is None:
        return
    unknown = sorted(set(evolution.retire_objectives) - set(s.objectives))
    if unknown:
        raise Rejected("evolution.retire_objectives", f"unknown objective {', '.join(unknown)}")
    if evolution.cadence and s.commitment:
        require_fit("evolution.cadence", evolution.cadence, s.commitment.capacity_per_month, rules)
