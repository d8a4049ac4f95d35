"""`mentorflow demo`: a small cohort lives a whole program in a few minutes, on the engine.

Nothing is faked on the engine side: the relationships are real workflows on the running
worker, with a policy `time_scale` that makes a program day last a couple of seconds. Only the
people are simulated: each round they read their relationship's status and answer what it
waits for, as participants answering their prompts would.
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
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from cli import connection
from cli.app import app
from cli.output import console, fail, print_json, table
from cli.report_commands import ledger_report, show_reports
from client.relationships import act, handle, start_relationship
from client.relationships import status as query_status
from client.waits import ResultLate
from ledger.store import Ledger
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind, MeetingFormat
from mentorship.enrolment import StartRelationship
from mentorship.events import Kind
from mentorship.participants import Actor, Participant, Role
from mentorship.policy import Policy
from mentorship.state import Phase, RelationshipState, Review

DAY = timedelta(days=1)
WEEKLY = Cadence(kind=CadenceKind.WEEKLY)
BIWEEKLY = Cadence(kind=CadenceKind.BIWEEKLY)
OPERATOR = Participant(id="demo-ops", name="Olga Operator", email="olga@demo.example.org")


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
    conclude_after: int | None = None  # the mentee ends it early after this many meetings
    thin_out_at_review: bool = False  # evolve to a bi-weekly cadence at the first review
    relationship_id: str = ""
    state: RelationshipState | None = None
    moves: int = 0
    last_move: str = ""


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
            end_days=max(days * 2 // 3, 14),
            topic="launching the payments API",
        ),
        Character(
            "goes at risk",
            Kind.TRADITIONAL,
            _person("eve", "Eve Martin"),
            _person("finn", "Finn Berg"),
            WEEKLY,
            end_days=days,
            attends=False,
        ),
        Character(
            "concludes early",
            Kind.TRADITIONAL,
            _person("gus", "Gus Lind"),
            _person("hana", "Hana Sato"),
            WEEKLY,
            end_days=days,
            conclude_after=2,
        ),
    ]


def demo_policy(day_seconds: float) -> Policy:
    return Policy(
        time_scale=DAY.total_seconds() / day_seconds,
        review_every=timedelta(days=21),
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


def _as(role: Role, s: RelationshipState) -> Actor:
    return Actor(role=role, id=s.party(role).id)


def onboarding_move(who: Character, s: RelationshipState, now: datetime) -> c.Command | None:
    mentee, mentor = _as(Role.MENTEE, s), _as(Role.MENTOR, s)
    if s.goals is None:
        return c.SubmitGoals(
            actor=mentee,
            objectives=["Lead a design review end to end", "Present to the leadership team"],
            challenges=["Nervous in large meetings"],
            proposed_cadence=who.cadence,
            proposed_format=MeetingFormat.VIRTUAL,
        )
    if s.commitment is None:
        return c.SubmitCommitment(
            actor=mentor,
            capacity_per_month=6,
            availability="Tuesday and Thursday afternoons",
            expertise=["system design", "public speaking"],
            communication="email",
        )
    stale = s.pending_terms is not None and s.pending_terms.first_meeting_at <= now
    if Role.MENTEE not in s.confirmed_by or stale:
        # Proposing again when the proposed first meeting slipped into the past keeps a slow
        # round from stalling onboarding: new terms void the old confirmations.
        first = now + s.policy.span(3 * DAY)
        terms = c.AgreementTerms(
            cadence=who.cadence, format=MeetingFormat.VIRTUAL, first_meeting_at=first
        )
        return c.ConfirmAgreement(actor=mentee, terms=terms)
    return c.ConfirmAgreement(actor=mentor)


def concluding_move(s: RelationshipState) -> c.Command | None:
    assert s.conclusion is not None
    for role in (Role.MENTOR, Role.MENTEE):
        if role not in s.conclusion.reflections:
            return c.SubmitReflection(
                actor=_as(role, s),
                highlights=["The mock leadership presentation"],
                wins=["Led a design review"] if role is Role.MENTEE else [],
                goals_met=["o1"] if s.goals else [],
                next_steps="Keep presenting every month",
            )
    return None


def review_move(who: Character, s: RelationshipState, review: Review) -> c.Command | None:
    for role in (Role.MENTOR, Role.MENTEE):
        if role in review.submissions:
            continue
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
    return None


def feedback_move(s: RelationshipState) -> c.Command | None:
    loop = s.open_loop
    if loop is None:
        return None
    if loop.mentor_strengths is None:
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
    if loop.mentee_what_helps is None:
        return c.GiveMenteeFeedback(
            actor=_as(Role.MENTEE, s),
            loop_number=loop.number,
            what_helps=["Concrete examples from your own design reviews help a lot"],
        )
    return None


def running_move(who: Character, s: RelationshipState, now: datetime) -> c.Command | None:
    review = s.open_review
    if not who.attends:
        return _operator_gives_up(s, review, now)
    if review is not None:
        return review_move(who, s, review)
    if who.conclude_after is not None and s.meetings_held >= who.conclude_after:
        return c.Conclude(actor=_as(Role.MENTEE, s), reason="Reached the goal early: promoted")
    move = feedback_move(s)
    if move is not None:
        return move
    items = s.open_items()
    if items:
        done = c.ItemStatus.DONE
        return c.ReportProgress(actor=_as(Role.MENTEE, s), item_id=items[0].id, status=done)
    return meeting_move(s, now)


def _operator_gives_up(
    s: RelationshipState, review: Review | None, now: datetime
) -> c.Command | None:
    """The silent pair: the operator cancels once the early review has gone unanswered a while."""
    if s.at_risk and review is not None and now >= review.opened_at + s.policy.span(5 * DAY):
        return c.Cancel(
            actor=Actor(role=Role.OPERATOR, id=OPERATOR.id),
            reason="No meetings and no answer to the check-in or the early review",
        )
    return None


def meeting_move(s: RelationshipState, now: datetime) -> c.Command | None:
    meeting = s.next_meeting
    if meeting is None:
        return None
    if not meeting.agenda and f"meeting-{meeting.number}:prep" in s.reminders_sent:
        return c.SubmitAgenda(
            actor=_as(Role.MENTEE, s),
            meeting_number=meeting.number,
            items=["Feedback on my last presentation", "Next stretch assignment"],
        )
    if now < meeting.scheduled_at:
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


def next_move(who: Character, s: RelationshipState, now: datetime) -> c.Command | None:
    if s.phase is Phase.ONBOARDING:
        return onboarding_move(who, s, now)
    if s.phase is Phase.CONCLUDING:
        return concluding_move(s)
    if s.phase in (Phase.ACTIVE, Phase.UNDER_REVIEW):
        return running_move(who, s, now)
    return None


async def play(client: Client, who: Character) -> None:
    """One round for one pair: read the status, answer the first thing it waits for."""
    bound = connection.command_timeout()
    try:
        who.state = (await query_status(client, who.relationship_id, timeout=bound)).state
    except RPCError:
        return  # mid continue-as-new; the next round reads the new run
    if who.state.finished:
        return
    move = next_move(who, who.state, datetime.now(UTC))
    if move is None:
        return
    try:
        await act(client, who.relationship_id, move, timeout=bound)
        who.moves += 1
        who.last_move = type(move).__name__
    except (WorkflowUpdateFailedError, RPCError, ResultLate):
        pass  # a timer moved first, or the answer is late: the next round reads the new state


# --------------------------------------------------------------------------- the show


def live_table(program: str, people: list[Character], started: float, scale: float) -> Table:
    day = (time.monotonic() - started) * scale / DAY.total_seconds()
    rows: list[list[Any]] = []
    for who in people:
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
    return table(f"{program}: program day {day:.0f}", columns, rows)


async def require_worker(client: Client, task_queue: str) -> None:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    if not described.pollers:
        fail(
            f"no worker is polling task queue '{task_queue}'; start the engine with "
            "`make run` (or `mentorflow up`) in another terminal first"
        )


@dataclass
class Run:
    program: str
    people: list[Character]
    scale: float
    timeout: float
    quiet: bool
    ids: list[str] = field(default_factory=list)


async def run_demo(run: Run) -> None:
    client = await connection.client()
    settings = connection.settings()
    await require_worker(client, settings.task_queue)
    policy = demo_policy(DAY.total_seconds() / run.scale)
    now = datetime.now(UTC)
    for who in run.people:
        request = request_for(who, run.program, policy, now.date())
        who.relationship_id = (
            await start_relationship(
                client, request, settings.task_queue, now, timeout=connection.command_timeout()
            )
        ).relationship_id
    started = time.monotonic()
    live = None if run.quiet else Live(console=console, refresh_per_second=4)
    with live or contextlib.nullcontext():
        while not all(w.state is not None and w.state.finished for w in run.people):
            if time.monotonic() - started > run.timeout:
                fail(f"the demo did not finish within {run.timeout:.0f}s; is the worker healthy?")
            await asyncio.gather(*(play(client, w) for w in run.people))
            if live is not None:
                live.update(live_table(run.program, run.people, started, run.scale))
            await asyncio.sleep(0.2)
    if live is not None:
        console.print()
    # The final events reach the ledger before each run returns; wait for that.
    await asyncio.gather(*(handle(client, w.relationship_id).result() for w in run.people))


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
    scale = DAY.total_seconds() / day_seconds
    run = Run(program, people, scale, timeout=days * day_seconds * 3 + 120, quiet=as_json)
    if not as_json:
        console.print(
            f"Demo program [bold]{program}[/]: {len(people)} pairs, {days} program days, "
            f"one day every {day_seconds:g}s. Watch them in the web UI too."
        )
    connection.run(lambda: run_demo(run))
    settings = connection.settings()
    with Ledger.from_url(settings.resolved_ledger_url) as ledger:
        reports = ledger_report(ledger, program)
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
