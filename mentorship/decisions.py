"""Commands in, events out: `decide(state, command, now)` and `start(request, now)`.

Pure and deterministic, so the workflow can run a command twice (once in the update's
validator, once in its handler) and get the same answer, and tests need no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mentorship import commands as c
from mentorship import conclusion, feedback, meetings, onboarding, operations, reviews
from mentorship import events as ev
from mentorship.decider import PARTIES, Decider, Outcome, Rejected
from mentorship.enrolment import StartRelationship
from mentorship.health import risk_reasons, unanswered_reviews
from mentorship.notifications import NotificationKind as N
from mentorship.participants import Role
from mentorship.revisions import CURRENT, Revision, Rules
from mentorship.state import RelationshipState

Rule = Callable[[Decider, Any], None]

RULES: dict[type[c.Command], Rule] = {
    c.SubmitGoals: onboarding.submit_goals,
    c.SubmitCommitment: onboarding.submit_commitment,
    c.ConfirmAgreement: onboarding.confirm,
    c.SubmitAgenda: meetings.submit_agenda,
    c.LogMeeting: meetings.log_meeting,
    c.RescheduleMeeting: meetings.reschedule,
    c.ReportProgress: meetings.report_progress,
    c.GiveMentorFeedback: feedback.give_mentor_feedback,
    c.GiveMenteeFeedback: feedback.give_mentee_feedback,
    c.RequestReview: reviews.request_review,
    c.SubmitReview: reviews.submit_review,
    c.Conclude: conclusion.conclude,
    c.SubmitReflection: conclusion.submit_reflection,
    c.Pause: operations.pause,
    c.Resume: operations.resume,
    c.ExtendEndDate: operations.extend,
    c.ChangeCadence: operations.change_cadence,
    c.Cancel: operations.cancel,
}


def start(
    request: StartRelationship, relationship_id: str, now: datetime, rules: Rules = CURRENT
) -> Outcome:
    d = Decider(RelationshipState(id=relationship_id), now, rules)
    onboarding.begin(
        d,
        program=request.program,
        kind=request.kind,
        mentor=request.mentor,
        mentee=request.mentee,
        operator=request.operator,
        end_date=request.end_date,
        policy=request.policy,
        topic=request.topic,
    )
    return d.outcome()


def decide(
    state: RelationshipState, command: c.Command, now: datetime, rules: Rules = CURRENT
) -> Outcome:
    """The events a command causes, or `Rejected` naming the field and the fix."""
    if state.finished:
        raise Rejected("phase", f"the relationship has concluded ({state.outcome}); nothing to do")
    d = Decider(state, now, rules)
    RULES[type(command)](d, command)
    settle(d)
    return d.outcome()


def settle(d: Decider) -> None:
    """What follows from any change: loops close, feedback falls due, health is reassessed."""
    if d.state.finished and d.rules.has(Revision.NOTHING_AFTER_CONCLUSION):
        return
    feedback.close_finished_loops(d)
    feedback.maybe_request(d)
    reassess(d)


def reassess(d: Decider) -> None:
    s = d.state
    reasons = risk_reasons(s, d.now)
    if reasons and not s.at_risk:
        review_at = _early_review(d, reasons)
        rec = d.emit(
            ev.AtRiskRaised(reasons=reasons, review_at=review_at),
            cause="warning signs: " + "; ".join(reasons),
        )
        d.notify(N.CHECK_IN, f"risk-{rec.seq}:check-in", PARTIES, reasons=reasons)
        d.notify(
            N.AT_RISK,
            f"risk-{rec.seq}:operator",
            [Role.OPERATOR],
            reasons=reasons,
            review_at=review_at.isoformat() if review_at else "",
            review_open=s.open_review is not None,
        )
    elif s.at_risk and not reasons:
        d.emit(ev.AtRiskCleared(), cause="no warning sign left after recent activity")
    elif s.at_risk and _new_signs_warrant_a_review(d, reasons):
        review_at = d.now + s.policy.span(s.policy.early_review_lead)
        rec = d.emit(
            ev.AtRiskRaised(reasons=reasons, review_at=review_at),
            cause="new warning signs: " + "; ".join(r for r in reasons if r not in s.risk_reasons),
        )
        d.notify(
            N.AT_RISK,
            f"risk-{rec.seq}:operator",
            [Role.OPERATOR],
            reasons=reasons,
            review_at=review_at.isoformat(),
            review_open=False,
        )


def _new_signs_warrant_a_review(d: Decider, reasons: list[str]) -> bool:
    """At risk for an unanswered review only, then other signs appear: now bring the review
    forward, as a first warning sign of that kind would have."""
    s = d.state
    if not d.rules.has(Revision.NO_REVIEW_CASCADE) or s.open_review is not None:
        return False
    lead = s.policy.span(s.policy.early_review_lead)
    if s.next_review_at is not None and s.next_review_at <= d.now + lead:
        return False
    only_unanswered = all(_is_unanswered_review(r) for r in s.risk_reasons)
    return only_unanswered and any(not _is_unanswered_review(r) for r in reasons)


def _is_unanswered_review(reason: str) -> bool:
    return reason.startswith("review ") and "went unanswered" in reason


def _early_review(d: Decider, reasons: list[str]) -> datetime | None:
    """When to bring the next review forward, if at all.

    Not while one is open, and (from v0.2) not because the last review went unanswered: an
    early review would only go unanswered again. A check-in and the operator's notice do the
    work, and the next review keeps its date."""
    s = d.state
    if s.open_review is not None:
        return None
    if d.rules.has(Revision.NO_REVIEW_CASCADE) and reasons == unanswered_reviews(s):
        return None
    return d.now + s.policy.span(s.policy.early_review_lead)


__all__ = ["RULES", "Outcome", "Rejected", "decide", "settle", "start"]
