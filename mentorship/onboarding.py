"""Onboarding: clear expectations on both sides, then one agreement both confirm."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from mentorship import events as ev
from mentorship.availability import Rhythm
from mentorship.cadence import Cadence
from mentorship.capacity import require_fit
from mentorship.commands import ConfirmAgreement, SubmitCommitment, SubmitGoals
from mentorship.decider import PARTIES, Decider, Rejected
from mentorship.events import Terms
from mentorship.guards import require_actor, require_phase
from mentorship.invitations import follows, invite_for, where
from mentorship.notifications import NotificationKind as N
from mentorship.participants import SYSTEM, Participant, Role
from mentorship.policy import Policy
from mentorship.revisions import Revision, Rules
from mentorship.schedule import effective_end
from mentorship.state import Phase, RelationshipState

DEFAULT_FIRST_MEETING_IN = timedelta(days=7)
SESSION_MINUTES = 60  # the default length of `AgreementTerms.session_minutes`


def begin(
    d: Decider,
    *,
    program: str,
    kind: ev.Kind,
    mentor: Participant,
    mentee: Participant,
    operator: Participant,
    end_date: date | None,
    policy: Policy,
    topic: str,
) -> None:
    deadline = d.now + policy.span(policy.onboarding_deadline)
    d.emit(
        ev.RelationshipStarted(
            program=program,
            kind=kind,
            mentor=mentor,
            mentee=mentee,
            operator=operator,
            end_date=end_date,
            policy=policy,
            onboarding_deadline=deadline,
            topic=topic,
        ),
        actor=SYSTEM,
        cause="started by the program operator",
    )
    for role in PARTIES:
        d.notify(
            N.WELCOME,
            f"welcome:{role.value}",
            [role],
            role=role.value,
            deadline=_iso(deadline),
            topic=d.state.topic,
            end_date=d.state.end_date.isoformat() if d.state.end_date else "",
        )


def submit_goals(d: Decider, cmd: SubmitGoals) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTEE, action="state the learning goals")
    require_phase(s, Phase.ONBOARDING, action="submit goals")
    d.emit(
        ev.GoalsSubmitted(
            objectives=cmd.objectives,
            challenges=cmd.challenges,
            proposed_cadence=cmd.proposed_cadence,
            proposed_format=cmd.proposed_format,
        ),
        actor=cmd.actor,
    )


def submit_commitment(d: Decider, cmd: SubmitCommitment) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, action="state the mentor's commitment")
    require_phase(s, Phase.ONBOARDING, action="submit a commitment")
    window = cmd.window
    if window is not None and window.time_zone is None:
        window = window.model_copy(update={"time_zone": _mentor_zone(s)})
    d.emit(
        ev.CommitmentSubmitted(**cmd.model_dump(exclude={"actor", "window"}), window=window),
        actor=cmd.actor,
    )


def _mentor_zone(s: RelationshipState) -> str:
    return s.mentor.timezone if s.mentor else "UTC"


def relationship_zone(s: RelationshipState) -> str:
    """Where the pair's meeting times are read: the mentor's window's zone, else the mentor's."""
    window = s.commitment.window if s.commitment else None
    return (window.time_zone if window else None) or _mentor_zone(s)


def confirm(d: Decider, cmd: ConfirmAgreement) -> None:
    s = d.state
    require_actor(s, cmd.actor, Role.MENTOR, Role.MENTEE, action="confirm the agreement")
    require_phase(s, Phase.ONBOARDING, action="confirm the agreement")
    if s.goals is None:
        raise Rejected("goals", "the mentee has not stated goals yet; they come first")
    if s.commitment is None:
        raise Rejected("commitment", "the mentor has not stated a commitment yet; it comes first")
    proposed = ev.stored(Terms, cmd.terms) if cmd.terms else None
    terms = proposed or s.pending_terms or _proposed_terms(s, d.now, d.rules)
    check_terms(s, terms, d.now, d.rules)
    d.emit(ev.AgreementConfirmed(by=cmd.actor.role, terms=terms), actor=cmd.actor)
    if set(d.state.confirmed_by) == set(PARTIES):
        _sign(d, terms)


def check_terms(s: RelationshipState, terms: Terms, now: datetime, rules: Rules) -> None:
    assert s.commitment is not None
    capacity = s.commitment.capacity_per_month
    require_fit("terms.cadence", terms.cadence, capacity, rules)
    if terms.first_meeting_at <= now:
        raise Rejected("terms.first_meeting_at", "is in the past; pick a future date and time")
    end = effective_end(s)
    if end is not None and terms.first_meeting_at >= end:
        raise Rejected("terms.first_meeting_at", "falls after the end date; pick an earlier date")


def _proposed_terms(s: RelationshipState, now: datetime, rules: Rules) -> Terms:
    assert s.goals is not None
    return Terms(
        cadence=s.goals.proposed_cadence,
        format=s.goals.proposed_format,
        first_meeting_at=proposed_first_meeting(s, now, rules),
    )


def terms_on_the_table(s: RelationshipState, now: datetime, rules: Rules) -> Terms | None:
    """What confirming without terms agrees to (clients show it and add to it): the pending
    terms, else the mentee's proposal with the first meeting where `confirm` would put it;
    None before the mentee has proposed anything."""
    if s.pending_terms is not None:
        return s.pending_terms
    if s.goals is None:
        return None
    return _proposed_terms(s, now, rules)


def proposed_first_meeting(s: RelationshipState, now: datetime, rules: Rules) -> datetime:
    """A week or more away: in the mentor's window where one is given, else on the hour in
    the relationship's time zone. Under `time_scale` there is no calendar week to place it
    on, so it is simply a compressed week away."""
    earliest = now + s.policy.span(DEFAULT_FIRST_MEETING_IN)
    if not rules.has(Revision.MEETINGS_ON_AVAILABILITY) or s.policy.time_scale != 1.0:
        return earliest
    window = s.commitment.window if s.commitment else None
    slot = window.first_slot(earliest, SESSION_MINUTES, relationship_zone(s)) if window else None
    return slot or _on_the_hour(earliest)


def _on_the_hour(moment: datetime) -> datetime:
    whole = moment.replace(minute=0, second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(hours=1)


def _rhythm(s: RelationshipState, terms: Terms, rules: Rules) -> Rhythm | None:
    if not rules.has(Revision.MEETINGS_ON_AVAILABILITY) or s.policy.time_scale != 1.0:
        return None
    return Rhythm.of(terms.first_meeting_at, relationship_zone(s))


def _sign(d: Decider, terms: Terms) -> None:
    policy = d.state.policy
    d.emit(
        ev.AgreementSigned(
            terms=terms,
            next_review_at=d.now + policy.span(policy.review_every),
            rhythm=_rhythm(d.state, terms, d.rules),
        ),
        cause="both parties confirmed the same terms",
    )
    d.emit(ev.MeetingScheduled(number=1, at=terms.first_meeting_at), cause="first meeting")
    rhythm = d.state.rhythm
    first = d.state.meeting(1)
    assert first is not None
    d.notify(
        N.AGREEMENT_CONFIRMED,
        "agreement",
        PARTIES,
        # From v0.5 the agreement holds the first meeting in both calendars at once.
        invite=invite_for(d.state, first, d.rules) if follows(d) else None,
        cadence=terms.cadence.describe(),
        format=terms.format.value.replace("_", " "),
        first_meeting=_iso(terms.first_meeting_at),
        objectives=list(d.state.objectives.values()),
        **_rhythm_context(rhythm, terms.cadence),
        **(where(d.state) if follows(d) else {}),
    )


def _rhythm_context(rhythm: Rhythm | None, cadence: Cadence) -> dict[str, Any]:
    return {"rhythm": rhythm.describe(cadence)} if rhythm else {}


def missing_parts(s: RelationshipState) -> list[str]:
    missing = []
    if s.goals is None:
        missing.append("goals")
    if s.commitment is None:
        missing.append("commitment")
    missing.extend(f"confirmation by the {r.value}" for r in PARTIES if r not in s.confirmed_by)
    return missing


def asks(s: RelationshipState, role: Role) -> list[str]:
    """What `role` can do for onboarding right now: "goals", "commitment", "confirm".

    A confirmation waits for both statements, so nobody is asked for one before then."""
    wanted = []
    if role is Role.MENTEE and s.goals is None:
        wanted.append("goals")
    if role is Role.MENTOR and s.commitment is None:
        wanted.append("commitment")
    ready = s.goals is not None and s.commitment is not None
    if ready and role not in s.confirmed_by:
        wanted.append("confirm")
    return wanted


def able_to_act(s: RelationshipState) -> list[Role]:
    return [role for role in PARTIES if asks(s, role)]


def waiting_on(s: RelationshipState) -> list[Role]:
    roles = []
    for role in PARTIES:
        owes_statement = (role is Role.MENTEE and s.goals is None) or (
            role is Role.MENTOR and s.commitment is None
        )
        if owes_statement or role not in s.confirmed_by:
            roles.append(role)
    return roles


def _iso(moment: datetime) -> str:
    return moment.isoformat()
