"""`mentorflow demo`: a small cohort lives a whole program in a few minutes, on the engine.

Nothing is faked on the engine side: the relationships are real workflows on the running
worker, with a policy `time_scale` that makes a program day last a couple of seconds. Only the
people are simulated, one task per person (the mentee, the mentor, and the operator of the pair
that goes silent): each reads the relationship's status and answers what it waits for of them,
as participants answering their prompts would. Each step they take is tied to the
relationship's own progress (a prompt it sent, a meeting's scheduled time, a warning sign it
raised), never to wall time elapsed, so the cohort ends the same way on a fast machine and on a
loaded one. Every wait is bounded: a pair that stops moving stops the demo with one line
naming the pair and what it waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from cli import connection
from cli.action_commands import rejection
from cli.app import app
from cli.output import console, fail, print_json, table
from cli.report_commands import show_reports
from client.relationships import act, handle, start_relationship
from client.relationships import status as query_status
from client.waits import NoAnswer, ResultLate
from ledger.outcomes import program_reports
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind, MeetingFormat
from mentorship.enrolment import StartRelationship
from mentorship.events import Kind
from mentorship.onboarding import DEFAULT_FIRST_MEETING_IN
from mentorship.participants import Actor, Participant, Role
from mentorship.policy import Policy
from mentorship.schedule import effective_end
from mentorship.state import Phase, RelationshipState
from workflows.contract import StatusView

DAY = timedelta(days=1)
WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
BIWEEKLY = Cadence(kind=CadenceKind.BIWEEKLY)
OPERATOR = Participant(id="demo-ops", name="Olga Operator", email="olga@demo.example.org")
RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)
# A pair whose ending is someone's decision (the operator's, the mentee's) gets an end date this
# many times the program's length: it ends them only if nobody decides (an interrupted demo),
# so their outcome never races the calendar.
BACKSTOP = 3
POLL = 0.1  # seconds between reads while the lifecycle is taking a step that fell due
MAX_NAP = 1.0  # seconds; each person re-reads the status at least this often
PAST_IT = 0.01  # seconds past a moment, so that its time has surely come
WORKER_GRACE = 10.0  # seconds a worker that has just started may take to poll its queue


def _person(pid: str, name: str) -> Participant:
    return Participant(id=pid, name=name, email=f"{pid}@demo.example.org")


@dataclass
class Character:
    """One simulated pair and how its people behave."""

    label: str
    kind: Kind
    mentor: Participant
    mentee: Participant
    cadence: Cadence
    end_days: int | None = None
    topic: str = ""
    attends: bool = True
    # The mentee ends it early after this many meetings held, once a feedback loop is closed.
    conclude_after: int | None = None
    thin_out_at_review: bool = False  # evolve to a bi-weekly cadence at the first review
    relationship_id: str = ""
    state: RelationshipState | None = None
    moves: int = 0
    last_move: str = ""
    # Per person: (event seq, command) of their last refused answer.
    refused: dict[Role, tuple[int, str]] = field(default_factory=dict)
    moved: asyncio.Event = field(default_factory=asyncio.Event)  # set when one of them acts


def cohort(days: int) -> list[Character]:
    return [
        Character(
            "traditional",
            Kind.TRADITIONAL,
            _person("ada", "Ada Lovelace"),
            _person("ben", "Ben Okafor"),
            WEEKLY,
            end_days=days,
            thin_out_at_review=True,
        ),
        Character(
            "reverse",
            Kind.REVERSE,
            _person("chen", "Chen Wu (junior engineer)"),
            _person("dana", "Dana Ruiz (VP)"),
            BIWEEKLY,
            end_days=days,
            topic="AI coding tools for leadership",
        ),
        Character(
            "situational",
            Kind.SITUATIONAL,
            _person("ivan", "Ivan Petrov"),
            _person("jo", "Jo Kim"),
            WEEKLY,
            end_days=days,
            topic="launching the payments API",
        ),
        Character(
            "goes at risk",
            Kind.TRADITIONAL,
            _person("eve", "Eve Martin"),
            _person("finn", "Finn Berg"),
            WEEKLY,
            end_days=days * BACKSTOP,
            attends=False,
        ),
        Character(
            "concludes early",
            Kind.TRADITIONAL,
            _person("gus", "Gus Lind"),
            _person("hana", "Hana Sato"),
            WEEKLY,
            end_days=days * BACKSTOP,
            conclude_after=2,
        ),
    ]


def demo_policy(day_seconds: float, days: int) -> Policy:
    """The program fast-forwarded, with room around what the people do.

    They log each meeting at its time, and it counts as missed only five program days later;
    the periodic review comes a third of the way through the program, so a pair whose
    onboarding took a while still has it well before its end date."""
    return Policy(
        time_scale=DAY.total_seconds() / day_seconds,
        meeting_grace=timedelta(days=5),
        review_every=timedelta(days=days // 3),
        feedback_every_meetings=2,
    )


def request_for(who: Character, program: str, policy: Policy, today: date) -> StartRelationship:
    return StartRelationship(
        program=program,
        kind=who.kind,
        mentor=who.mentor,
        mentee=who.mentee,
        operator=OPERATOR,
        end_date=today + timedelta(days=who.end_days) if who.end_days else None,
        topic=who.topic,
        policy=policy,
    )


# --------------------------------------------------------------------------- the people


def who_acts(who: Character) -> list[Role]:
    """Who acts on the pair: both parties, and for the silent pair the operator too."""
    return [Role.MENTEE, Role.MENTOR] + ([] if who.attends else [Role.OPERATOR])


def _as(role: Role, s: RelationshipState) -> Actor:
    return Actor(role=role, id=s.party(role).id)


def next_move(who: Character, role: Role, s: RelationshipState, now: datetime) -> c.Command | None:
    """What this person does now about what they see, or None to wait."""
    if s.phase is Phase.ONBOARDING and role is Role.MENTEE:
        return mentee_onboards(who, s, now)
    if s.phase is Phase.ONBOARDING and role is Role.MENTOR:
        return mentor_onboards(s, now)
    if s.phase is Phase.CONCLUDING:
        return reflection(role, s)
    if s.phase not in RUNNING:
        return None
    if not who.attends:
        return operator_gives_up(s) if role is Role.OPERATOR else None
    if role is Role.MENTEE:
        return mentee_runs(who, s, now)
    if role is Role.MENTOR:
        return own_review(who, role, s) or mentor_feedback(s)
    return None


def mentee_onboards(who: Character, s: RelationshipState, now: datetime) -> c.Command | None:
    if s.goals is None:
        return c.SubmitGoals(
            actor=_as(Role.MENTEE, s),
            objectives=["Lead a design review end to end", "Present to the leadership team"],
            challenges=["Nervous in large meetings"],
            proposed_cadence=who.cadence,
            proposed_format=MeetingFormat.VIRTUAL,
        )
    if s.commitment is None:
        return None  # the terms wait for the mentor's commitment
    if Role.MENTEE in s.confirmed_by and not stale_terms(s, now):
        return None
    # Proposing again when the proposed first meeting slipped into the past keeps a slow
    # round from stalling onboarding: new terms void the old confirmations.
    terms = c.AgreementTerms(
        cadence=who.cadence, format=MeetingFormat.VIRTUAL, first_meeting_at=first_meeting(s, now)
    )
    return c.ConfirmAgreement(actor=_as(Role.MENTEE, s), terms=terms)


def mentor_onboards(s: RelationshipState, now: datetime) -> c.Command | None:
    if s.commitment is None:
        return c.SubmitCommitment(
            actor=_as(Role.MENTOR, s),
            capacity_per_month=6,
            availability="Tuesday and Thursday afternoons",
            expertise=["system design", "public speaking"],
            communication="email",
        )
    proposed = Role.MENTEE in s.confirmed_by and not stale_terms(s, now)
    if proposed and Role.MENTOR not in s.confirmed_by:
        return c.ConfirmAgreement(actor=_as(Role.MENTOR, s))  # the mentee's terms stand
    return None


def stale_terms(s: RelationshipState, now: datetime) -> bool:
    return s.pending_terms is not None and s.pending_terms.first_meeting_at <= now


def first_meeting(s: RelationshipState, now: datetime) -> datetime:
    """A week out, as the program proposes by default (a wide margin for the mentor to confirm
    in time), or half way to the end date when that comes sooner, so that it fits."""
    first = now + s.policy.span(DEFAULT_FIRST_MEETING_IN)
    end = effective_end(s)
    return first if end is None or end <= now else min(first, now + (end - now) / 2)


def reflection(role: Role, s: RelationshipState) -> c.Command | None:
    assert s.conclusion is not None
    if role not in (Role.MENTOR, Role.MENTEE) or role in s.conclusion.reflections:
        return None
    return c.SubmitReflection(
        actor=_as(role, s),
        highlights=["The mock leadership presentation"],
        wins=["Led a design review"] if role is Role.MENTEE else [],
        goals_met=["o1"] if s.goals else [],
        next_steps="Keep presenting every month",
    )


def mentee_runs(who: Character, s: RelationshipState, now: datetime) -> c.Command | None:
    # A meeting whose time has come goes first: of all that waits for the mentee it has the
    # shortest window (the meeting grace); reviews, feedback and action items have days.
    return (
        due_meeting(s, now)
        or concludes_early(who, s)
        or own_review(who, Role.MENTEE, s)
        or mentee_feedback(s)
        or report_back(s)
        or agenda(s, now)
    )


def concludes_early(who: Character, s: RelationshipState) -> c.Command | None:
    """As soon as the pair has met enough and closed a feedback loop, so that nothing else it
    is asked meanwhile (reviews, later loops) can hold its ending back."""
    if who.conclude_after is None or s.meetings_held < who.conclude_after or s.loops_closed < 1:
        return None
    return c.Conclude(actor=_as(Role.MENTEE, s), reason="Reached the goal early: promoted")


def own_review(who: Character, role: Role, s: RelationshipState) -> c.Command | None:
    review = s.open_review
    if review is None or role in review.submissions:
        return None
    evolve = who.thin_out_at_review and role is Role.MENTOR and review.number == 1
    return c.SubmitReview(
        actor=_as(role, s),
        review_number=review.number,
        effectiveness=4,
        progress={o: 3 for o in s.objectives},
        decision=c.ReviewDecision.EVOLVE if evolve else c.ReviewDecision.CONTINUE,
        evolution=c.Evolution(cadence=BIWEEKLY) if evolve else None,
        comment="Meetings are useful; the cadence can thin out now" if evolve else "",
    )


def mentor_feedback(s: RelationshipState) -> c.Command | None:
    loop = s.open_loop
    if loop is None or loop.mentor_strengths is not None:
        return None
    return c.GiveMentorFeedback(
        actor=_as(Role.MENTOR, s),
        loop_number=loop.number,
        strengths=["You structured the design review agenda clearly and kept time"],
        development_areas=[
            c.DevelopmentArea(
                behaviour="Interrupting colleagues before they finish their point",
                suggested_step="Wait for a full pause and summarise their point first",
                due_in_days=7,
            )
        ],
    )


def mentee_feedback(s: RelationshipState) -> c.Command | None:
    loop = s.open_loop
    if loop is None or loop.mentee_what_helps is not None:
        return None
    return c.GiveMenteeFeedback(
        actor=_as(Role.MENTEE, s),
        loop_number=loop.number,
        what_helps=["Concrete examples from your own design reviews help a lot"],
    )


def report_back(s: RelationshipState) -> c.Command | None:
    items = s.open_items()
    if not items:
        return None
    done = c.ItemStatus.DONE
    return c.ReportProgress(actor=_as(Role.MENTEE, s), item_id=items[0].id, status=done)


def operator_gives_up(s: RelationshipState) -> c.Command | None:
    """The silent pair: nobody meets; once the lifecycle flags it at risk, the operator cancels."""
    if not s.at_risk:
        return None
    return c.Cancel(
        actor=Actor(role=Role.OPERATOR, id=OPERATOR.id),
        reason=f"At risk ({'; '.join(s.risk_reasons)}) and no answer to the check-in",
    )


def agenda(s: RelationshipState, now: datetime) -> c.Command | None:
    """The mentee prepares once prompted, while the meeting is still ahead."""
    meeting = s.next_meeting
    if meeting is None or meeting.agenda or now >= meeting.scheduled_at:
        return None
    if f"meeting-{meeting.number}:prep" not in s.reminders_sent:
        return None
    return c.SubmitAgenda(
        actor=_as(Role.MENTEE, s),
        meeting_number=meeting.number,
        items=["Feedback on my last presentation", "Next stretch assignment"],
    )


def due_meeting(s: RelationshipState, now: datetime) -> c.Command | None:
    """The next meeting, logged once its time has come, as held at its scheduled time."""
    meeting = s.next_meeting
    if meeting is None or now < meeting.scheduled_at:
        return None
    return c.LogMeeting(
        actor=_as(Role.MENTEE, s),
        meeting_number=meeting.number,
        held_at=meeting.scheduled_at,
        duration_minutes=45,
        notes=f"Session {meeting.number}: went through the agenda",
        action_items=["Draft the design review outline"] if meeting.number == 1 else [],
        wins=["Presented to the team"] if meeting.number % 3 == 0 else [],
    )


# --------------------------------------------------------------------------- when they act


class Stalled(Exception):
    """A pair stopped moving; the message names the pair and what it waited for."""


@dataclass(frozen=True)
class Wake:
    """The next moment a pair's status can have something new, and what comes then."""

    at: datetime
    what: str


def own_moment(who: Character, role: Role, s: RelationshipState, now: datetime) -> Wake | None:
    """When the mentee means to act by the relationship's own calendar: at the next meeting."""
    meeting = s.next_meeting
    if role is not Role.MENTEE or not who.attends or s.phase not in RUNNING or meeting is None:
        return None
    if meeting.scheduled_at <= now:
        return None
    return Wake(meeting.scheduled_at, f"the time of meeting {meeting.number}")


def next_wake(who: Character, role: Role, view: StatusView, now: datetime) -> Wake:
    """The earliest of this person's own next moment and the lifecycle's next step; the
    pair's other people acting wakes them too (see `nap`), and nobody else acts on a demo pair,
    so nothing is missed between."""
    own = own_moment(who, role, view.state, now)
    wakes = [w for w in (own, lifecycle_step(who, view, now)) if w is not None]
    if not wakes:
        raise Stalled(f"{who.label} ({who.relationship_id}): no deadline and nothing to do")
    return min(wakes, key=lambda w: w.at)


def lifecycle_step(who: Character, view: StatusView, now: datetime) -> Wake | None:
    """The lifecycle's next deadline; one long past with nothing new means the engine stopped."""
    due = view.next_deadline
    if due is None:
        return None
    waiting = "; ".join(view.waiting_for) or "no one"
    step = f"the lifecycle's step due on program day {program_day(view.state, due):.0f}"
    late = (now - due).total_seconds()
    if late > connection.command_timeout():
        raise Stalled(
            f"{who.label} ({who.relationship_id}): {step} has not come {late:.0f}s after it "
            f"was due (waiting for: {waiting}); is the worker healthy?"
        )
    return Wake(due, f"{step} (waiting for: {waiting})")


def program_day(s: RelationshipState, moment: datetime) -> float:
    start = s.started_at or moment
    return (moment - start) * s.policy.time_scale / DAY


async def nap(who: Character, wake: Wake, now: datetime) -> None:
    """Until just past the wake-up moment (a poll at least, MAX_NAP at most), or until another
    of the pair's people has acted."""
    seconds = min(max((wake.at - now).total_seconds() + PAST_IT, POLL), MAX_NAP)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(who.moved.wait(), seconds)


def moved(who: Character) -> None:
    """Wake the pair's other people: what they see has changed."""
    who.moved.set()
    who.moved = asyncio.Event()


async def live_person(client: Client, who: Character, role: Role, run: Run) -> None:
    """One of a pair's people, until their relationship concludes: act, or wait for it."""
    waited_for = "its first status"
    while True:
        run.check(who, role, waited_for)
        view = await observe(client, who)
        if view is None:
            waited_for = "its status (the worker did not answer)"
            await asyncio.sleep(POLL)
            continue
        if view.state.finished:
            return
        now = datetime.now(UTC)
        move = next_move(who, role, view.state, now)
        if move is not None:
            await answer(client, who, role, view.state, move)
            continue
        wake = next_wake(who, role, view, now)
        waited_for = wake.what
        await nap(who, wake, now)


async def observe(client: Client, who: Character) -> StatusView | None:
    """The pair's status, or None while it cannot answer (mid continue-as-new, a slow worker)."""
    try:
        view = await query_status(client, who.relationship_id, timeout=connection.command_timeout())
    except (RPCError, RPCTimeoutOrCancelledError, NoAnswer, WorkflowQueryFailedError):
        stop_if_cancelled()
        return None
    if view.ledger_blocked:
        raise Stalled(
            f"{who.label} ({who.relationship_id}): the ledger refuses its events "
            f"({view.ledger_blocked}); see `mentorflow repair`"
        )
    who.state = view.state
    return view


async def answer(
    client: Client, who: Character, role: Role, s: RelationshipState, move: c.Command
) -> None:
    """Send one answer; whatever happens, the next read of the status says where things are."""
    name = type(move).__name__
    try:
        await act(client, who.relationship_id, move, timeout=connection.command_timeout())
    except WorkflowUpdateFailedError as err:
        refused(who, role, s, name, err)
        await asyncio.sleep(POLL)
        return
    except (RPCError, RPCTimeoutOrCancelledError, NoAnswer, ResultLate):
        stop_if_cancelled()
        await asyncio.sleep(POLL)  # mid continue-as-new, or late: the next read tells
        return
    who.moves += 1
    who.last_move = name
    who.refused.pop(role, None)
    moved(who)


def stop_if_cancelled() -> None:
    """The SDK turns a cancelled call into its own error; a pair told to stop (another one
    stalled, or Ctrl-C) must stop, not read again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def refused(
    who: Character, role: Role, s: RelationshipState, name: str, err: WorkflowUpdateFailedError
) -> None:
    """A timer or the other party may move first, once; the same answer refused twice at one
    point is a bug in the demo, and said so."""
    if who.refused.get(role) == (s.seq, name):
        raise Stalled(
            f"{who.label} ({who.relationship_id}): the {role.value}'s {name} was refused "
            f"twice: {rejection(err)}"
        )
    who.refused[role] = (s.seq, name)
    who.last_move = f"{name} refused"


# --------------------------------------------------------------------------- the show


def live_table(run: Run) -> Table:
    day = (time.monotonic() - run.started) / run.day_seconds
    rows: list[list[Any]] = []
    for who in run.people:
        s = who.state
        if s is None:
            rows.append([who.label, who.kind.value, "starting", "", "", "", "", ""])
            continue
        health = "-" if s.finished else ("AT RISK" if s.at_risk else "ok")
        rows.append(
            [
                who.label,
                s.kind.value,
                s.phase.value,
                f"{s.meetings_held}/{s.meetings_missed}",
                s.loops_closed,
                len(s.reviews),
                health,
                s.outcome.value if s.outcome else who.last_move,
            ]
        )
    columns = ("pair", "kind", "phase", "met/missed", "loops", "reviews", "health", "last")
    return table(f"{run.program}: program day {day:.0f}", columns, rows)


async def require_worker(client: Client, task_queue: str) -> None:
    """A worker polls the queue; one that started a moment ago gets a few seconds to show."""
    waited = 0.0
    while not await has_pollers(client, task_queue):
        if waited >= WORKER_GRACE:
            fail(
                f"no worker is polling task queue '{task_queue}'; start the engine with "
                "`make run` (or `mentorflow up`) in another terminal first"
            )
        await asyncio.sleep(POLL)
        waited += POLL


async def has_pollers(client: Client, task_queue: str) -> bool:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return bool(described.pollers)


@dataclass
class Run:
    program: str
    people: list[Character]
    days: int
    day_seconds: float
    timeout: float  # seconds the whole cohort may take: the bound of every pair's every wait
    quiet: bool
    started: float = 0.0  # time.monotonic() once every pair has started

    def check(self, who: Character, role: Role, waited_for: str) -> None:
        if time.monotonic() - self.started > self.timeout:
            raise Stalled(
                f"{who.label} ({who.relationship_id}): the {role.value} was still waiting for "
                f"{waited_for} when the demo's {self.timeout:.0f}s ran out; is the worker "
                f"healthy? `mentorflow status {who.relationship_id}` shows where it stands"
            )


async def run_demo(run: Run) -> None:
    client = await connection.client()
    settings = connection.settings()
    await require_worker(client, settings.task_queue)
    await start_cohort(client, run, settings.task_queue)
    live = None if run.quiet else Live(console=console, refresh_per_second=4)
    with live or contextlib.nullcontext():
        try:
            async with asyncio.TaskGroup() as pairs:
                for who in run.people:
                    for role in who_acts(who):
                        pairs.create_task(live_person(client, who, role, run))
                if live is not None:
                    pairs.create_task(show(live, run))
        except ExceptionGroup as failed:
            # The other pairs' calls, cancelled when one stalled, fail in their own words.
            stalled = first_stall(failed)
            if stalled is None:
                raise
            fail(str(stalled))
    if live is not None:
        console.print()
    await runs_returned(client, run)


def first_stall(group: BaseExceptionGroup[Exception]) -> Stalled | None:
    for error in group.exceptions:
        if isinstance(error, Stalled):
            return error
        if isinstance(error, BaseExceptionGroup) and (inner := first_stall(error)) is not None:
            return inner
    return None


async def start_cohort(client: Client, run: Run, task_queue: str) -> None:
    policy = demo_policy(run.day_seconds, run.days)
    now = datetime.now(UTC)
    for who in run.people:
        request = request_for(who, run.program, policy, now.date())
        started = await start_relationship(
            client, request, task_queue, now, timeout=connection.command_timeout()
        )
        who.relationship_id = started.relationship_id
    run.started = time.monotonic()


async def show(live: Live, run: Run) -> None:
    while not all(w.state is not None and w.state.finished for w in run.people):
        live.update(live_table(run))
        await asyncio.sleep(0.25)
    live.update(live_table(run))


async def runs_returned(client: Client, run: Run) -> None:
    """The final events reach the ledger before each run returns; wait for that, bounded."""
    bound = connection.command_timeout()
    try:
        async with asyncio.timeout(bound):
            await asyncio.gather(*(handle(client, w.relationship_id).result() for w in run.people))
    except TimeoutError:
        fail(
            f"every pair concluded, but their runs did not return within {bound:g}s, so the "
            f"report may miss their last events; `mentorflow report --program {run.program}` "
            "shows it once they have"
        )


@app.command()
def demo(
    day_seconds: Annotated[
        float, typer.Option(min=0.1, max=60, help="Real seconds per program day.")
    ] = 2.0,
    days: Annotated[int, typer.Option(min=21, max=365, help="Program length in days.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """A cohort of five pairs lives a whole program in minutes on the running engine."""
    program = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    people = cohort(days)
    limit = days * BACKSTOP * day_seconds + 120
    run = Run(program, people, days, day_seconds, timeout=limit, quiet=as_json)
    if not as_json:
        console.print(
            f"Demo program [bold]{program}[/]: {len(people)} pairs, {days} program days, "
            f"one day every {day_seconds:g}s. Watch them in the web UI too."
        )
    connection.run(lambda: run_demo(run))
    settings = connection.settings()
    with Ledger.from_url(settings.resolved_ledger_url) as ledger:
        reports = program_reports(ledger.engine, program)
    outcomes = {w.label: (w.relationship_id, w.state.outcome if w.state else None) for w in people}
    if as_json:
        print_json(
            {
                "program": program,
                "relationships": {k: {"id": i, "outcome": o} for k, (i, o) in outcomes.items()},
                "report": reports,
            }
        )
        return
    if reports:
        show_reports(reports)
    else:
        console.print(
            f"(the ledger at {settings.resolved_ledger_url} is not the worker's; no report)"
        )
    example = people[0].relationship_id
    console.print(
        f"Next: `mentorflow status {example}`, `mentorflow history {example}`, "
        f"`mentorflow list --program {program}`, `mentorflow report --program {program}`"
    )
