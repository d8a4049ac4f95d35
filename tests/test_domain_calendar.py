"""Whatever the operator and the pair do, a calendar that applied every invite in order
shows what the ledger says is on the schedule (pure rules, explicit timestamps)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorship import commands as c
from mentorship import events as ev
from mentorship.cadence import Cadence, CadenceKind
from mentorship.decider import Rejected
from mentorship.notifications import MeetingInvite
from mentorship.state import MeetingStatus, Phase
from tests.factories import MENTEE, MENTOR, OPERATOR, Journey, log

CADENCES = [Cadence(kind=k) for k in (CadenceKind.WEEKLY, CadenceKind.BIWEEKLY)] + [
    Cadence(kind=CadenceKind.MONTHLY)
]


def on_the_calendar(history: list[ev.Recorded]) -> dict[int, datetime]:
    """The schedule as the ledger tells it: meetings invited, moved, withdrawn, dropped."""
    shown: dict[int, datetime] = {}
    past: set[int] = set()
    for rec in history:
        e = rec.event
        invited = isinstance(e, ev.MeetingScheduled) and e.at > rec.occurred_at  # not an extra
        if invited or isinstance(e, ev.MeetingRescheduled):
            shown[e.number] = e.at
        elif isinstance(e, ev.MeetingWithdrawn):
            shown.pop(e.number, None)
        elif isinstance(e, ev.MeetingLogged | ev.MeetingMissed):
            past.add(e.number)
        elif isinstance(e, ev.ConclusionStarted | ev.Concluded):
            shown = {n: at for n, at in shown.items() if n in past}
    return shown


def apply(invites: list[MeetingInvite]) -> tuple[dict[int, datetime], dict[str, list[int]]]:
    held: dict[str, MeetingInvite] = {}
    sequences: dict[str, list[int]] = {}
    for invite in invites:
        sequences.setdefault(invite.uid, []).append(invite.sequence)
        current = held.get(invite.uid)
        if current is None or invite.sequence >= current.sequence:
            held[invite.uid] = invite
    showing = {i.meeting_number: i.start for i in held.values() if not i.cancelled}
    return showing, sequences


Step = tuple[str, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["wait", "log", "reschedule", "pause", "cadence", "extend"]),
        st.integers(min_value=1, max_value=40),
    ),
    max_size=12,
)


def take(j: Journey, step: Step) -> None:
    kind, days = step
    meeting = j.state.next_meeting
    try:
        if kind == "wait":
            j.advance_by(days=days)
        elif kind == "log" and meeting is not None and meeting.scheduled_at <= j.now:
            j.do(log(MENTEE, meeting.scheduled_at))
        elif kind == "reschedule" and meeting is not None:
            new_time = j.now + timedelta(days=days, hours=3)
            j.do(
                c.RescheduleMeeting(
                    actor=MENTOR, meeting_number=meeting.number, new_time=new_time, reason="clash"
                )
            )
        elif kind == "pause":
            j.do(c.Pause(actor=OPERATOR, reason="leave"))
            j.advance_by(days=days)
            j.do(c.Resume(actor=OPERATOR))
        elif kind == "cadence":
            j.do(c.ChangeCadence(actor=OPERATOR, cadence=CADENCES[days % 3], reason="adjust"))
        elif kind == "extend" and j.state.end_date is not None:
            j.do(c.ExtendEndDate(actor=OPERATOR, end_date=j.state.end_date + timedelta(days=days)))
    except Rejected:
        pass  # a step the relationship cannot take now changes nothing


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.sampled_from(["cancel", "conclude", "open"]))
def test_the_calendar_always_shows_the_schedule(path: list[Step], ending: str) -> None:
    j = Journey()
    j.onboard()
    for step in path:
        if j.state.phase not in (Phase.ACTIVE, Phase.UNDER_REVIEW):
            break
        take(j, step)
    if ending == "cancel" and not j.state.finished:
        j.do(c.Cancel(actor=OPERATOR, reason="program closed"))
    elif ending == "conclude" and j.state.phase in (Phase.ACTIVE, Phase.UNDER_REVIEW):
        j.do(c.Conclude(actor=MENTEE, reason="goals met"))

    showing, sequences = apply([n.invite for n in j.notifications if n.invite is not None])
    assert showing == on_the_calendar(j.history), "no ghost meeting, no stale time"
    for meeting in j.state.meetings:
        if meeting.status is MeetingStatus.SCHEDULED:
            assert showing.get(meeting.number) == meeting.scheduled_at, "the calendar has it"
    for uid, seen in sequences.items():
        assert seen == sorted(set(seen)), f"{uid}: SEQUENCE must rise on every change: {seen}"
    if j.state.finished or j.state.phase is Phase.CONCLUDING:
        assert all(at <= j.now for at in showing.values()), "nothing ahead once it ended"
