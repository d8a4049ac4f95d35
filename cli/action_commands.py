"""What participants and operators do to a relationship: one command per workflow update.

Every command goes through `perform`: the body comes from flags over an optional --file, the
actor from --as/--actor-id (by default the party's own id from the relationship), and a
rejection comes back as one line naming the field, exactly as the domain phrased it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli import connection
from cli.app import app
from cli.exit_codes import ExitCode
from cli.ledger_access import roster_ledger
from cli.output import console, fail, print_json, stop
from cli.relationship_commands import read_mapping
from cli.status_command import fetch_status
from client.access import NotOnRoster, admit
from client.messages import validation_message
from client.relationships import act
from client.relationships import status as query_status
from client.roster_import import given, merge
from client.waits import NoAnswer
from ledger.summaries import summaries
from mentorship import commands as c
from mentorship.availability import Window
from mentorship.cadence import Cadence, MeetingFormat
from mentorship.onboarding import terms_on_the_table as onboarding_terms
from mentorship.participants import Actor, Role
from mentorship.revisions import CURRENT
from mentorship.state import RelationshipState
from workflows.contract import UpdateResult

T = TypeVar("T")
S = TypeVar("S")

NOT_RECORDED = (
    "applied; the ledger has not confirmed it yet, it will be recorded when the ledger is back"
)


class Party(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


class Anyone(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"
    OPERATOR = "operator"


Id = Annotated[str, typer.Argument(help="The relationship's id.")]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="YAML or JSON with the command's fields; flags override."),
]
ActorId = Annotated[
    str | None, typer.Option("--actor-id", help="Who acts; default the party's id.")
]
OperatorId = Annotated[
    str | None,
    typer.Option(
        "--actor-id",
        envvar="MENTORFLOW_OPERATOR_ID",
        help="Which operator you are; you must be on the program's roster.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Reason = Annotated[str | None, typer.Option(help="Why, in a sentence.")]
Texts = Annotated[list[str] | None, typer.Option()]
FormatOpt = Annotated[MeetingFormat | None, typer.Option("--format")]
CadenceOpt = Annotated[
    str | None, typer.Option(help="weekly, biweekly, monthly, quarterly or 'every N days'.")
]


# --------------------------------------------------------------------------- the one helper


def perform(
    command: type[c.Command],
    relationship_id: str,
    role: Role,
    actor_id: str | None,
    file: Path | None,
    as_json: bool,
    fields: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> None:
    """Build the command from defaults < file < flags, name its actor, send it, show the answer."""
    typed = given(fields)
    body = merge(merge(defaults or {}, read_mapping(file) if file else {}), typed)
    body.pop("actor", None)  # the actor is who runs the command, never what a file claims
    placeholder = Actor(role=role, id=actor_id or "placeholder")
    _build(command, body, placeholder, typed)  # fail before connecting
    typist = _operator_typing(role, actor_id)

    async def work() -> tuple[UpdateResult, str | None]:
        client = await connection.client()
        await _on_the_roster(client, relationship_id, typist)
        if role is Role.OPERATOR:
            actor = Actor(role=role, id=typist)
        else:  # the participant's action, entered for them by an operator of the program
            party = actor_id or await _party_id(client, relationship_id, role)
            actor = Actor(role=role, id=party, via=typist)
        result = await _send(client, relationship_id, _build(command, body, actor))
        blocked = None if result.recorded else await _blocked_reason(client, relationship_id)
        return result, blocked

    result, blocked = connection.run(work)
    if as_json:
        print_json({"relationship_id": relationship_id, **result.model_dump(mode="json")})
    else:
        console.print(done_line(command, relationship_id, result), highlight=False, soft_wrap=True)
    if blocked is not None:
        stop(
            f"applied, but the ledger refuses this relationship's events (ledger blocked: "
            f"{blocked}); fix the cause, then `mentorflow repair {relationship_id}`",
            ExitCode.PENDING,
        )
    if not result.recorded:
        stop(NOT_RECORDED, ExitCode.PENDING)


_DONE: dict[type[c.Command], str] = {
    c.SubmitGoals: "goals recorded",
    c.SubmitCommitment: "commitment recorded",
    c.ConfirmAgreement: "agreement confirmed",
    c.SubmitAgenda: "agenda sent",
    c.LogMeeting: "meeting logged",
    c.RescheduleMeeting: "meeting moved",
    c.ReportProgress: "progress reported",
    c.GiveMentorFeedback: "feedback given",
    c.GiveMenteeFeedback: "feedback given",
    c.SubmitReview: "review answered",
    c.RequestReview: "review requested",
    c.Conclude: "conclusion begun",
    c.SubmitReflection: "reflection recorded",
    c.Pause: "paused",
    c.Resume: "resumed",
    c.ExtendEndDate: "end date extended",
    c.ChangeCadence: "cadence changed",
    c.Cancel: "cancelled",
}


def _words(event_type: str) -> str:
    """`MeetingScheduled` -> `meeting scheduled`."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", event_type).lower()


def done_line(command: type[c.Command], relationship_id: str, result: UpdateResult) -> str:
    """What happened, as a person says it: `meeting logged: eng-2026.bob.alice is active;
    recorded: meeting logged, meeting scheduled (events up to 17)`."""
    done = _DONE.get(command, _words(command.__name__))
    happened = ", ".join(_words(e) for e in result.events) or "nothing new"
    phase = result.phase.replace("_", " ")
    return f"{done}: {relationship_id} is {phase}; recorded: {happened} (events up to {result.seq})"


async def _blocked_reason(client: Client, relationship_id: str) -> str | None:
    """Why the ledger has not confirmed a command: blocked (waits for a repair), or None for
    down or slow (it records by itself). Best effort: no answer counts as not blocked."""
    try:
        view = await query_status(client, relationship_id, timeout=connection.command_timeout())
    except (NoAnswer, RPCError, WorkflowQueryFailedError):
        return None
    return view.ledger_blocked


# Where a command's field comes from on the command line, when the flag is not the field
# with dashes: an error names what the user typed.
FLAGS: dict[str, str] = {
    "objectives": "--objective",
    "challenges": "--challenge",
    "capacity_per_month": "--capacity",
    "boundaries": "--boundary",
    "terms.first_meeting_at": "--first-meeting",
    "terms.cadence": "--cadence",
    "terms.format": "--format",
    "terms.session_minutes": "--session-minutes",
    "terms.link": "--link",
    "terms.place": "--place",
    "meeting_number": "--meeting",
    "items": "--item",
    "duration_minutes": "--duration",
    "action_items": "--action-item",
    "wins": "--win",
    "new_time": "--to",
    "item_id": "--item",
    "loop_number": "--loop",
    "strengths": "--strength",
    "development_areas": "--area",
    "what_helps": "--helps",
    "what_to_change": "--change",
    "review_number": "--number",
    "evolution.cadence": "--new-cadence",
    "evolution.format": "--new-format",
    "evolution.add_objectives": "--add-objective",
    "evolution.retire_objectives": "--retire-objective",
    "highlights": "--highlight",
    "goals_met": "--goal-met",
}


class _Flags(dict[str, str]):
    """FLAGS, and `--field-name` for every other field."""

    def get(self, key: str, default: Any = None) -> Any:
        return FLAGS.get(key) or ("--" + key.replace("_", "-") if "." not in key else default)


def _build(
    command: type[c.Command], body: dict[str, Any], actor: Actor, typed: Iterable[str] = ()
) -> c.Command:
    try:
        return command.model_validate({**body, "actor": actor.model_dump()})
    except ValidationError as err:
        fail(validation_message(err, _Flags(), typed))


def _operator_typing(role: Role, actor_id: str | None) -> str:
    """Who is at the keyboard: always an operator of the program. For an operator's command
    `--actor-id` names them; for a participant's, MENTORFLOW_OPERATOR_ID does (and the ledger
    records that they entered it), since participants answer from their own page."""
    typist = (actor_id if role is Role.OPERATOR else None) or os.environ.get(
        "MENTORFLOW_OPERATOR_ID"
    )
    if typist:
        return typist
    if role is Role.OPERATOR:
        fail(
            "--actor-id: say which operator you are (or set MENTORFLOW_OPERATOR_ID); only the "
            "operators on the program's roster act on its relationships"
        )
    fail(
        f"MENTORFLOW_OPERATOR_ID: a {role.value}'s action typed here is entered by an operator "
        "of the program; set it to your operator id (participants answer from the personal "
        "link in their emails)"
    )


async def _on_the_roster(client: Client, relationship_id: str, operator_id: str) -> None:
    """Refused before anything is sent unless the operator runs the relationship's program.

    The program comes from the ledger's summary (no round trip to a worker, so a worker that
    is down is reported by the command itself); Temporal is asked only for one not yet there."""
    with roster_ledger() as ledger:
        known = summaries(ledger.engine, [relationship_id]).get(relationship_id)
        program = known.program if known else None
        if program is None:
            program = (await fetch_status(client, relationship_id)).state.program
        try:
            admit(ledger.engine, program, operator_id)
        except NotOnRoster as err:
            fail(str(err), ExitCode.REFUSED)


async def _party_id(client: Client, relationship_id: str, role: Role) -> str:
    state = (await fetch_status(client, relationship_id)).state
    return state.party(role).id


async def _send(client: Client, relationship_id: str, command: c.Command) -> UpdateResult:
    try:
        return await act(client, relationship_id, command, timeout=connection.command_timeout())
    except WorkflowUpdateFailedError as err:
        fail(f"rejected: {rejection(err)}", ExitCode.REFUSED)
    except RPCError as err:
        not_running(relationship_id, err)
        raise


def rejection(err: WorkflowUpdateFailedError) -> str:
    """The workflow's reason, as the domain (or the validator) phrased it."""
    cause = err.cause
    return str(getattr(cause, "message", None) or cause or err)


def not_running(relationship_id: str, err: RPCError) -> None:
    """An update to an id Temporal has no open run of: a typo, or a relationship that ended."""
    if err.status is RPCStatusCode.NOT_FOUND:
        fail(
            f"relationship '{relationship_id}' is not running (unknown id, or it has "
            "concluded); check `mentorflow list`"
        )


def parsed(field: str, parse: Callable[[S], T], value: S | None) -> T | None:
    """A flag turned into a domain value, or a one-line reason naming the field."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as err:
        fail(f"{field}: {err}")


def cadence(text: str) -> dict[str, Any]:
    return Cadence.parse(text).model_dump(mode="json")


def weekly_window(text: str) -> dict[str, Any]:
    return Window.parse(text).model_dump(mode="json")


def ratings(pairs: list[str]) -> dict[str, int]:
    out = {}
    for pair in pairs:
        objective, sep, value = pair.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValueError(f"'{pair}' is not OBJECTIVE=RATING; write e.g. o1=4")
        out[objective.strip()] = int(value)
    return out


def areas(texts: list[str], due_in_days: int | None) -> list[dict[str, Any]]:
    out = []
    for text in texts:
        behaviour, sep, step = text.partition("=>")
        if not sep:
            raise ValueError(f"'{text}' has no '=>'; write 'behaviour seen => suggested next step'")
        out.append(
            given(
                {
                    "behaviour": behaviour.strip(),
                    "suggested_step": step.strip(),
                    "due_in_days": due_in_days,
                }
            )
        )
    return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _nested(**fields: Any) -> dict[str, Any] | None:
    """A sub-object only when one of its flags was given."""
    return given(fields) or None


# --------------------------------------------------------------------------- onboarding


@app.command()
def goals(
    relationship_id: Id,
    objective: Annotated[
        list[str] | None, typer.Option(help="A learning objective (repeat).")
    ] = None,
    challenge: Annotated[
        list[str] | None, typer.Option(help="A current challenge (repeat).")
    ] = None,
    proposed_cadence: CadenceOpt = None,
    proposed_format: Annotated[MeetingFormat | None, typer.Option()] = None,
    as_: Annotated[Party, typer.Option("--as")] = Party.MENTEE,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The mentee's learning objectives, challenges, proposed cadence and format."""
    fields = {
        "objectives": objective,
        "challenges": challenge,
        "proposed_cadence": parsed("--proposed-cadence", cadence, proposed_cadence),
        "proposed_format": proposed_format,
    }
    perform(c.SubmitGoals, relationship_id, Role(as_), actor_id, file, as_json, fields)


@app.command()
def commitment(
    relationship_id: Id,
    capacity: Annotated[float | None, typer.Option(help="Meetings a month at most.")] = None,
    availability: Annotated[
        str | None, typer.Option(help="Availability in your words, e.g. 'weekday afternoons'.")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Weekly hours meetings go on: 'tue,thu 14:00-17:00', optionally with a time "
            "zone, 'mon-fri 9-12 Europe/Berlin' (default: the mentor's time zone)."
        ),
    ] = None,
    expertise: Annotated[
        list[str] | None, typer.Option(help="An area of expertise (repeat).")
    ] = None,
    communication: Annotated[str | None, typer.Option(help="Preferred channel.")] = None,
    boundary: Annotated[list[str] | None, typer.Option(help="A boundary (repeat).")] = None,
    as_: Annotated[Party, typer.Option("--as")] = Party.MENTOR,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The mentor's availability, capacity, expertise, communication and boundaries."""
    fields = {
        "capacity_per_month": capacity,
        "availability": availability,
        "window": parsed("--window", weekly_window, window),
        "expertise": expertise,
        "communication": communication,
        "boundaries": boundary,
    }
    perform(c.SubmitCommitment, relationship_id, Role(as_), actor_id, file, as_json, fields)


@app.command()
def confirm(
    relationship_id: Id,
    as_: Annotated[Party, typer.Option("--as")],
    cadence_: Annotated[str | None, typer.Option("--cadence", help="Agreed cadence.")] = None,
    format_: FormatOpt = None,
    first_meeting: Annotated[
        str | None, typer.Option(help="ISO time with offset, e.g. 2026-03-02T15:00:00Z.")
    ] = None,
    session_minutes: Annotated[int | None, typer.Option()] = None,
    link: Annotated[
        str | None, typer.Option(help="The video call's address, put on every invite.")
    ] = None,
    place: Annotated[str | None, typer.Option(help="Where they meet in person.")] = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Confirm the agreement; terms not given stay as proposed (the pending terms, else the
    mentee's proposal)."""
    terms = _nested(
        cadence=parsed("--cadence", cadence, cadence_),
        format=format_,
        first_meeting_at=first_meeting,
        session_minutes=session_minutes,
        link=link,
        place=place,
    )
    defaults = None
    if _some_terms_missing(merge(_file_terms(file), terms or {})):
        defaults = {"terms": connection.run(lambda: _terms_on_the_table(relationship_id))}
    perform(
        c.ConfirmAgreement,
        relationship_id,
        Role(as_),
        actor_id,
        file,
        as_json,
        {"terms": terms},
        defaults,
    )


_NEEDED_TERMS = ("cadence", "format", "first_meeting_at")


def _file_terms(file: Path | None) -> dict[str, Any]:
    terms = read_mapping(file).get("terms") if file else None
    return terms if isinstance(terms, dict) else {}


def _some_terms_missing(terms: dict[str, Any]) -> bool:
    """Some terms given, not all: the rest must come from somewhere before the command is built."""
    return bool(terms) and any(name not in terms for name in _NEEDED_TERMS)


async def _terms_on_the_table(relationship_id: str) -> dict[str, Any]:
    client = await connection.client()
    state = (await fetch_status(client, relationship_id)).state
    return terms_on_the_table(state, datetime.now(UTC))


def terms_on_the_table(state: RelationshipState, now: datetime) -> dict[str, Any]:
    """What confirming without terms agrees to; given terms go over these."""
    terms = onboarding_terms(state, now, CURRENT)
    if terms is None:
        fail(
            "terms: nothing is proposed yet to take the other terms from (the mentee states "
            "goals first); give --cadence, --format and --first-meeting",
            ExitCode.REFUSED,
        )
    return terms.model_dump(mode="json", exclude_none=True)


# --------------------------------------------------------------------------- meetings


@app.command()
def agenda(
    relationship_id: Id,
    meeting: Annotated[int | None, typer.Option(help="Meeting number.")] = None,
    item: Annotated[list[str] | None, typer.Option(help="An agenda item (repeat).")] = None,
    as_: Annotated[Party, typer.Option("--as")] = Party.MENTEE,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The mentee's agenda for an upcoming meeting; the mentor gets it with the reminder."""
    fields = {"meeting_number": meeting, "items": item}
    perform(c.SubmitAgenda, relationship_id, Role(as_), actor_id, file, as_json, fields)


@app.command("log-meeting")
def log_meeting(
    relationship_id: Id,
    as_: Annotated[Party, typer.Option("--as")],
    meeting: Annotated[int | None, typer.Option(help="Default: the next scheduled one.")] = None,
    held_at: Annotated[str | None, typer.Option(help="ISO time with offset; default now.")] = None,
    duration: Annotated[int | None, typer.Option(help="Minutes.")] = None,
    format_: FormatOpt = None,
    notes: Annotated[str | None, typer.Option()] = None,
    action_item: Annotated[list[str] | None, typer.Option(help="An action item (repeat).")] = None,
    win: Annotated[list[str] | None, typer.Option(help="A win to celebrate (repeat).")] = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log a meeting that was held: notes, action items, wins."""
    fields = {
        "meeting_number": meeting,
        "held_at": held_at,
        "duration_minutes": duration,
        "format": format_,
        "notes": notes,
        "action_items": action_item,
        "wins": win,
    }
    defaults = {"held_at": now_iso(), "duration_minutes": 60}
    perform(c.LogMeeting, relationship_id, Role(as_), actor_id, file, as_json, fields, defaults)


@app.command()
def reschedule(
    relationship_id: Id,
    as_: Annotated[Party, typer.Option("--as")],
    meeting: Annotated[int | None, typer.Option(help="Meeting number.")] = None,
    to: Annotated[str | None, typer.Option(help="New ISO time with offset.")] = None,
    reason: Reason = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a scheduled meeting; both get an updated invite."""
    fields = {"meeting_number": meeting, "new_time": to, "reason": reason}
    perform(c.RescheduleMeeting, relationship_id, Role(as_), actor_id, file, as_json, fields)


@app.command()
def progress(
    relationship_id: Id,
    as_: Annotated[Party, typer.Option("--as")],
    item: Annotated[str | None, typer.Option(help="Action item id, e.g. m1-1 or f1-1.")] = None,
    status: Annotated[c.ItemStatus | None, typer.Option()] = None,
    note: Annotated[str | None, typer.Option()] = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Report progress on an action item; done items of an action plan close its loop."""
    fields = {"item_id": item, "status": status, "note": note}
    perform(c.ReportProgress, relationship_id, Role(as_), actor_id, file, as_json, fields)


# --------------------------------------------------------------------------- feedback and reviews


@app.command()
def feedback(
    relationship_id: Id,
    as_: Annotated[
        Party, typer.Option("--as", help="mentor: to the mentee; mentee: to the mentor.")
    ],
    loop: Annotated[int | None, typer.Option(help="Feedback loop number.")] = None,
    strength: Annotated[list[str] | None, typer.Option(help="Mentor: a strength (repeat).")] = None,
    area: Annotated[
        list[str] | None,
        typer.Option(help="Mentor: 'behaviour seen => suggested next step' (repeat)."),
    ] = None,
    due_in_days: Annotated[int | None, typer.Option(help="Mentor: days for each step.")] = None,
    helps: Annotated[list[str] | None, typer.Option(help="Mentee: what helps (repeat).")] = None,
    change: Annotated[
        list[str] | None, typer.Option(help="Mentee: what to change (repeat).")
    ] = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Feedback in either direction: the mentor's form makes an action plan."""
    command = c.GiveMentorFeedback if as_ is Party.MENTOR else c.GiveMenteeFeedback
    fields = {
        "loop_number": loop,
        "strengths": strength,
        "development_areas": parsed("--area", lambda texts: areas(texts, due_in_days), area),
        "what_helps": helps,
        "what_to_change": change,
    }
    perform(command, relationship_id, Role(as_), actor_id, file, as_json, fields)


@app.command()
def review(
    relationship_id: Id,
    as_: Annotated[Party, typer.Option("--as")],
    number: Annotated[int | None, typer.Option(help="Review number.")] = None,
    effectiveness: Annotated[int | None, typer.Option(help="1 to 5.")] = None,
    progress_: Annotated[
        list[str] | None, typer.Option("--progress", help="OBJECTIVE=RATING, e.g. o1=4 (repeat).")
    ] = None,
    decision: Annotated[c.ReviewDecision | None, typer.Option()] = None,
    comment: Annotated[str | None, typer.Option()] = None,
    new_cadence: CadenceOpt = None,
    new_format: Annotated[MeetingFormat | None, typer.Option()] = None,
    add_objective: Texts = None,
    retire_objective: Texts = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rate the relationship and choose: continue, evolve (new cadence/goals) or conclude."""
    fields = {
        "review_number": number,
        "effectiveness": effectiveness,
        "progress": parsed("--progress", ratings, progress_),
        "decision": decision,
        "comment": comment,
        "evolution": _nested(
            cadence=parsed("--new-cadence", cadence, new_cadence),
            format=new_format,
            add_objectives=add_objective,
            retire_objectives=retire_objective,
        ),
    }
    perform(c.SubmitReview, relationship_id, Role(as_), actor_id, file, as_json, fields)


@app.command("request-review")
def request_review(
    relationship_id: Id,
    as_: Annotated[Anyone, typer.Option("--as")],
    reason: Reason = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for a review now rather than at the next periodic one."""
    perform(
        c.RequestReview, relationship_id, Role(as_), actor_id, file, as_json, {"reason": reason}
    )


# --------------------------------------------------------------------------- conclusion


@app.command()
def conclude(
    relationship_id: Id,
    as_: Annotated[Anyone, typer.Option("--as", help="mentor, mentee or operator.")],
    reason: Reason = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """End the relationship gracefully; both are asked for closing reflections."""
    perform(c.Conclude, relationship_id, Role(as_), actor_id, file, as_json, {"reason": reason})


@app.command()
def reflect(
    relationship_id: Id,
    as_: Annotated[Party, typer.Option("--as")],
    highlight: Texts = None,
    win: Texts = None,
    goal_met: Annotated[
        list[str] | None, typer.Option(help="Objective id, e.g. o1 (repeat).")
    ] = None,
    next_steps: Annotated[str | None, typer.Option()] = None,
    actor_id: ActorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A closing reflection: highlights, wins, goals met, what next."""
    fields = {"highlights": highlight, "wins": win, "goals_met": goal_met, "next_steps": next_steps}
    perform(c.SubmitReflection, relationship_id, Role(as_), actor_id, file, as_json, fields)


# --------------------------------------------------------------------------- operator


@app.command()
def pause(
    relationship_id: Id,
    reason: Reason = None,
    actor_id: OperatorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Operator: hold every timer until resumed (leave, holidays, a reorganisation)."""
    perform(c.Pause, relationship_id, Role.OPERATOR, actor_id, file, as_json, {"reason": reason})


@app.command()
def resume(
    relationship_id: Id,
    actor_id: OperatorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Operator: carry on; every pending deadline moves by the time spent paused."""
    perform(c.Resume, relationship_id, Role.OPERATOR, actor_id, file, as_json, {})


@app.command()
def extend(
    relationship_id: Id,
    end_date: Annotated[str | None, typer.Option(help="New end date, YYYY-MM-DD.")] = None,
    actor_id: OperatorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Operator: move the planned end date later."""
    fields = {"end_date": end_date}
    perform(c.ExtendEndDate, relationship_id, Role.OPERATOR, actor_id, file, as_json, fields)


@app.command("cadence")
def change_cadence(
    relationship_id: Id,
    cadence_: Annotated[str | None, typer.Option("--cadence", help="The new cadence.")] = None,
    reason: Reason = None,
    actor_id: OperatorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Operator: change how often the pair meets; the next meeting moves to match."""
    fields = {"cadence": parsed("--cadence", cadence, cadence_), "reason": reason}
    perform(c.ChangeCadence, relationship_id, Role.OPERATOR, actor_id, file, as_json, fields)


@app.command()
def cancel(
    relationship_id: Id,
    reason: Reason = None,
    actor_id: OperatorId = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Operator: end the relationship now, without reflections, recorded as cancelled."""
    perform(c.Cancel, relationship_id, Role.OPERATOR, actor_id, file, as_json, {"reason": reason})
