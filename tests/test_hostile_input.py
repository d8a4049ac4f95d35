"""Hostile input: malformed, oversized, out-of-order and wrong-actor commands and start requests.

Volume runs on the pure domain (the same `decide` the workflow's update validators call):
every input is either refused by pydantic with a ValidationError, refused by the rules with
`Rejected` naming a field, or taken; nothing else may escape, and a refusal changes nothing.
A smaller set goes to the workflow on the time-skipping server, to prove that a refused
update leaves no event in history. Run with `-s` to see how many inputs were tried.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from ledger.store import Ledger
from mentorship import commands as c
from mentorship.cadence import CadenceKind
from mentorship.decider import Rejected
from mentorship.decisions import decide, start
from mentorship.enrolment import StartRelationship, check_start
from mentorship.limits import MAX_ITEMS, MAX_REASON, MAX_SHORT, MAX_TEXT
from mentorship.participants import SYSTEM, Actor, Role
from mentorship.policy import Policy
from mentorship.state import Phase, RelationshipState
from tests.factories import (
    MENTEE,
    MENTOR,
    MONTHLY,
    OPERATOR,
    T0,
    Journey,
    commitment,
    goals,
    log,
    mentee_feedback,
    mentor_feedback,
    reflection,
    request,
    review,
    terms,
)
from tests.lifecycle import Lifecycle, Pair
from worker.app import build_worker, lifecycle_activities
from worker.codec import generate_key
from worker.settings import Settings
from worker.temporal import concise, data_converter
from workflows.contract import UPDATES

TRIED: Counter[str] = Counter()
FIGURES: dict[str, str] = {}
MAX_ERROR = 2_000  # characters of a refusal; it travels back to the caller through Temporal
DAY = timedelta(days=1)
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    total = sum(TRIED.values())
    lines = [
        f"hostile input: {total} inputs tried",
        *(f"  {name}: {count}" for name, count in sorted(TRIED.items())),
        *(f"{name}: {figure}" for name, figure in FIGURES.items()),
    ]
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


# ------------------------------------------------------------------ valid starting points

WHEN = T0 + 9 * DAY


def baselines() -> dict[type[c.Command], c.Command]:
    """One well-formed instance of every command; hostile variants are mutations of these."""
    return {
        c.SubmitGoals: goals(),
        c.SubmitCommitment: commitment(),
        c.ConfirmAgreement: c.ConfirmAgreement(actor=MENTEE, terms=terms(T0 + 7 * DAY)),
        c.SubmitAgenda: c.SubmitAgenda(actor=MENTEE, meeting_number=1, items=["The RFC"]),
        c.LogMeeting: log(MENTEE, WHEN, notes="Went through the RFC", wins=["Shipped it"]),
        c.RescheduleMeeting: c.RescheduleMeeting(
            actor=MENTOR, meeting_number=2, new_time=WHEN + 10 * DAY, reason="Travelling"
        ),
        c.ReportProgress: c.ReportProgress(actor=MENTEE, item_id="f1-1", status=c.ItemStatus.DONE),
        c.GiveMentorFeedback: mentor_feedback(1),
        c.GiveMenteeFeedback: mentee_feedback(1),
        c.RequestReview: c.RequestReview(actor=MENTEE, reason="Want to change the cadence"),
        c.SubmitReview: review(MENTOR, 1, c.ReviewDecision.CONTINUE),
        c.Conclude: c.Conclude(actor=MENTEE, reason="Goals met"),
        c.SubmitReflection: reflection(MENTOR),
        c.Pause: c.Pause(actor=OPERATOR, reason="Parental leave"),
        c.Resume: c.Resume(actor=OPERATOR),
        c.ExtendEndDate: c.ExtendEndDate(actor=OPERATOR, end_date=(T0 + 400 * DAY).date()),
        c.ChangeCadence: c.ChangeCadence(actor=OPERATOR, cadence=MONTHLY, reason="Busy quarter"),
        c.Cancel: c.Cancel(actor=OPERATOR, reason="Left the company"),
    }


BASELINES = baselines()
KINDS = sorted(BASELINES, key=lambda kind: kind.__name__)


@dataclass(frozen=True)
class Scene:
    """A relationship frozen at one point of its life, and the time it is there."""

    state: RelationshipState
    now: datetime


def scenes() -> dict[str, Scene]:
    def at(j: Journey) -> Scene:
        return Scene(j.state, j.now)

    out = {"onboarding": at(Journey())}
    j = Journey()
    j.do(goals())
    out["goals_in"] = at(j)
    j = Journey(request(policy=Policy(feedback_every_meetings=1)))
    j.onboard(first=T0 + 7 * DAY)
    j.advance(T0 + 7 * DAY + timedelta(hours=2))
    out["active"] = at(j)
    j.do(log(MENTEE, T0 + 7 * DAY, action_items=["Read the RFC"]))
    out["loop_open"] = at(j)
    for name, command in {
        "under_review": c.RequestReview(actor=MENTEE, reason="Checking in"),
        "paused": c.Pause(actor=OPERATOR, reason="Leave"),
        "concluding": c.Conclude(actor=MENTOR, reason="Goals met"),
    }.items():
        branch = Journey(request(policy=Policy(feedback_every_meetings=1)))
        branch.onboard(first=T0 + 7 * DAY)
        branch.advance(T0 + 8 * DAY)
        branch.do(command)
        out[name] = at(branch)
        if name == "concluding":
            branch.do(reflection(MENTOR))
            branch.do(reflection(MENTEE))
            out["concluded"] = at(branch)
    return out


SCENES = scenes()


def test_the_scenes_cover_every_phase() -> None:
    assert {s.state.phase for s in SCENES.values()} == set(Phase)
    assert set(BASELINES) == set(UPDATES)  # a new command needs a hostile baseline here


# ------------------------------------------------------------------ hostile values

ACTORS: list[Any] = [
    MENTOR.model_dump(),
    MENTEE.model_dump(),
    OPERATOR.model_dump(),
    SYSTEM.model_dump(),
    {"role": "mentor", "id": "mallory"},  # not a party
    {"role": "mentee", "id": "alice"},  # the mentor posing as the mentee
    {"role": "mentor", "id": "bob"},  # the mentee posing as the mentor
    {"role": "operator", "id": "olga", "extra": True},
    {"role": "admin", "id": "root"},
    {"role": "mentor"},  # id defaults to "system"
    {"role": "mentee", "id": "b" * 65},
    {"id": "bob"},
    "mentee:bob",
    None,
]

SIZES = [MAX_SHORT + 1, MAX_SHORT * 2 + 1, MAX_REASON + 1, MAX_TEXT + 1, 100_000, 1_000_000]
TEXTS = ["", " ", "\t\n", "\x00", "\u202e\u0000evil", "é" * 3, "null", "-1", "1e309", "🦀"]
MOMENTS = [
    "2026-03-01T10:00:00",  # no time zone
    "2026-03-01T10:00:00Z",
    "2026-01-14T09:00:00+00:00",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "2026-13-45T99:00:00Z",
    "yesterday",
]


def junk() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 8),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.sampled_from(TEXTS + MOMENTS + [k.value for k in CadenceKind]),
        st.sampled_from(SIZES).map(lambda n: "x" * n),
        st.lists(st.text(max_size=12), max_size=4),
        st.integers(MAX_ITEMS + 1, 300).map(lambda n: ["An item"] * n),
        st.dictionaries(st.text(max_size=6), st.integers(-3, 8), max_size=3),
        st.integers(101, 5000).map(lambda n: {f"o{i}": 3 for i in range(n)}),
        st.sampled_from(ACTORS),
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a JSON-ish value where something can be put."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*prefix, index))


def put(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return root


def drop(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return root


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A valid input bent in 0-3 places: junk anywhere, fields dropped or added, actors swapped."""
    data: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(list(paths(data))))
        how = draw(st.sampled_from(["junk", "junk", "drop", "extra", "actor"]))
        if how == "junk":
            data = put(data, where, copy.deepcopy(draw(junk())))
        elif how == "drop":
            data = drop(data, where)
        elif how == "extra" and isinstance(data, dict):
            data[draw(st.sampled_from(["admin", "seq", "state", "__class__", "actor "]))] = 1
        elif how == "actor" and isinstance(data, dict):
            data["actor"] = copy.deepcopy(draw(st.sampled_from(ACTORS)))
    return data if isinstance(data, dict) else {"value": data}


@st.composite
def hostile_commands(draw: st.DrawFn) -> tuple[type[c.Command], dict[str, Any]]:
    kind = draw(st.sampled_from(KINDS))
    return kind, draw(mutated(BASELINES[kind].model_dump(mode="json")))


def as_command(kind: type[c.Command], raw: dict[str, Any]) -> list[c.Command]:
    """Parse as the CLI does (Python objects) and as the worker does (JSON off the wire)."""
    parsed = []
    parsers: list[Callable[[], c.Command]] = [
        lambda: kind.model_validate(raw),
        lambda: TypeAdapter(kind).validate_json(pydantic_core.to_json(raw, inf_nan_mode="null")),
    ]
    for parse in parsers:
        try:
            parsed.append(parse())
        except ValidationError as err:
            assert err.errors(), "a ValidationError must say what is wrong"
            assert len(concise(err)) < MAX_ERROR, "what goes back through Temporal stays short"
            TRIED["command: invalid (pydantic)"] += 1
    return parsed


def fields_of(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


# Rejections that are about the relationship rather than one field of the command.
STATE_FIELDS = {"phase", "goals", "commitment"}


def judge(state: RelationshipState, command: c.Command, now: datetime) -> str:
    """Decide and classify; fail on anything but an outcome or a Rejected naming a field."""
    before = state.model_dump_json()
    try:
        outcome = decide(state, command, now)
    except Rejected as refusal:
        head = refusal.field.split(".")[0]
        assert head in fields_of(type(command)) | STATE_FIELDS, refusal.field
        assert refusal.message.strip()
        assert len(str(refusal)) < MAX_ERROR, "a refusal must not echo oversized input back"
        verdict = "rejected"
    else:
        for recorded in outcome.recorded:
            assert recorded.actor in (command.actor, SYSTEM)
        verdict = "accepted"
    assert state.model_dump_json() == before, "deciding must not touch the state it was given"
    return verdict


# ------------------------------------------------------------------ the domain, in volume


@settings(max_examples=3000, deadline=None, suppress_health_check=SLOW)
@given(case=hostile_commands(), scene=st.sampled_from(sorted(SCENES)))
def test_every_hostile_command_is_refused_with_a_reason_or_taken(
    case: tuple[type[c.Command], dict[str, Any]], scene: str
) -> None:
    kind, raw = case
    at = SCENES[scene]
    for command in as_command(kind, raw):
        TRIED[f"command: {judge(at.state, command, at.now)}"] += 1


@settings(max_examples=500, deadline=None, suppress_health_check=SLOW)
@given(
    kind=st.sampled_from(KINDS),
    actor=st.sampled_from([a for a in ACTORS if isinstance(a, dict)]),
    scene=st.sampled_from(sorted(SCENES)),
)
def test_a_command_signed_by_the_wrong_person_is_never_taken(
    kind: type[c.Command], actor: dict[str, Any], scene: str
) -> None:
    raw = BASELINES[kind].model_dump(mode="json") | {"actor": actor}
    at = SCENES[scene]
    for command in as_command(kind, raw):
        rightful = _rightful(at.state, command.actor)
        verdict = judge(at.state, command, at.now)
        TRIED[f"actor: {verdict}"] += 1
        if not rightful:
            assert verdict == "rejected"


def _rightful(state: RelationshipState, actor: Actor) -> bool:
    if actor.role is Role.OPERATOR:
        return True  # operators act across the program; see the report on operator identity
    if actor.role in (Role.MENTOR, Role.MENTEE):
        return actor.id == state.party(actor.role).id
    return False


@dataclass(frozen=True)
class WrongParty:
    command: c.Command
    field: str
    says: str


WRONG_PARTIES = {
    "mentee submits mentor feedback": WrongParty(
        mentor_feedback(1).model_copy(update={"actor": MENTEE}), "actor.role", "only the mentor"
    ),
    "mentor submits the goals": WrongParty(goals(actor=MENTOR), "actor.role", "only the mentee"),
    "operator submits a review": WrongParty(
        review(OPERATOR, 1, c.ReviewDecision.CONCLUDE), "actor.role", "not the operator"
    ),
    "mentor pauses": WrongParty(
        c.Pause(actor=MENTOR, reason="Busy"), "actor.role", "only the operator"
    ),
    "a stranger logs a meeting": WrongParty(
        log(Actor(role=Role.MENTEE, id="mallory"), WHEN), "actor.id", "not the mentee"
    ),
    "the mentor signs as the mentee": WrongParty(
        c.ConfirmAgreement(actor=Actor(role=Role.MENTEE, id="alice")), "actor.id", "yourself"
    ),
    "the lifecycle itself is impersonated": WrongParty(
        c.Conclude(actor=SYSTEM, reason="Spoofed"), "actor.role", "not the system"
    ),
}
_SCENE_FOR = {
    c.GiveMentorFeedback: "loop_open",
    c.SubmitGoals: "onboarding",
    c.SubmitReview: "under_review",
    c.ConfirmAgreement: "goals_in",
}


@pytest.mark.parametrize("case", sorted(WRONG_PARTIES))
def test_the_wrong_party_is_turned_away_by_name(case: str) -> None:
    wrong = WRONG_PARTIES[case]
    scene = SCENES[_SCENE_FOR.get(type(wrong.command), "active")]
    if type(wrong.command) is c.ConfirmAgreement:
        j = Journey()
        j.do(goals())
        j.do(commitment())
        scene = Scene(j.state, j.now)
    with pytest.raises(Rejected) as refusal:
        decide(scene.state, wrong.command, scene.now)
    assert refusal.value.field == wrong.field
    assert wrong.says in refusal.value.message


def _command_for(j: Journey, draw: Callable[..., Any]) -> c.Command:
    """A well-formed command that may well come at the wrong moment or from the wrong person."""
    number = draw(st.integers(1, 4))
    when = j.now + timedelta(hours=draw(st.integers(-24 * 20, 24 * 20)))
    actor = Actor.model_validate(draw(st.sampled_from(ACTORS[:7])))
    first = j.now + timedelta(days=draw(st.integers(-2, 10)), hours=1)
    builders: list[Callable[[], c.Command]] = [
        lambda: goals(actor=actor),
        lambda: commitment(actor=actor),
        lambda: c.ConfirmAgreement(actor=actor),
        lambda: c.ConfirmAgreement(actor=actor, terms=terms(first)),
        lambda: c.SubmitAgenda(actor=actor, meeting_number=number, items=["Agenda"]),
        lambda: log(actor, when, meeting_number=number, action_items=["Write it up"]),
        lambda: c.RescheduleMeeting(
            actor=actor, meeting_number=number, new_time=when, reason="Clash"
        ),
        lambda: c.ReportProgress(actor=actor, item_id=f"m{number}-1", status=c.ItemStatus.DONE),
        lambda: mentor_feedback(number).model_copy(update={"actor": actor}),
        lambda: mentee_feedback(number).model_copy(update={"actor": actor}),
        lambda: c.RequestReview(actor=actor, reason="Stuck"),
        lambda: review(actor, number, draw(st.sampled_from(list(c.ReviewDecision)))),
        lambda: c.Conclude(actor=actor, reason="Done"),
        lambda: reflection(actor),
        lambda: c.Pause(actor=actor, reason="Leave"),
        lambda: c.Resume(actor=actor),
        lambda: c.ExtendEndDate(actor=actor, end_date=(when + 30 * DAY).date()),
        lambda: c.ChangeCadence(actor=actor, cadence=MONTHLY, reason="Busy"),
        lambda: c.Cancel(actor=actor, reason="Gone"),
    ]
    build: Callable[[], c.Command] = draw(st.sampled_from(builders))
    return build()


@settings(max_examples=250, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_commands_in_any_order_keep_the_history_whole(data: st.DataObject) -> None:
    j = Journey(request(policy=Policy(feedback_every_meetings=1)))
    for _ in range(data.draw(st.integers(5, 30))):
        if data.draw(st.integers(0, 3)) == 0:
            j.advance_by(hours=data.draw(st.integers(1, 24 * 15)))
        if j.state.finished:
            break
        command = _command_for(j, data.draw)
        verdict = judge(j.state, command, j.now)
        TRIED[f"sequence: {verdict}"] += 1
        if verdict == "accepted":
            outcome = j.do(command)
            assert not outcome.recorded or any(r.actor == command.actor for r in outcome.recorded)
    assert [r.seq for r in j.history] == list(range(1, len(j.history) + 1))
    assert j.rebuilt() == j.state


async def test_the_ledger_names_who_did_each_thing(lifecycle: Lifecycle) -> None:
    """Participants sign their own events; what the lifecycle did itself is signed 'system'."""
    pair = await lifecycle.start(request(policy=Policy(feedback_every_meetings=1)))
    await pair.do(goals())
    await pair.do(commitment())
    first = await lifecycle.now() + 7 * DAY
    await pair.do(c.ConfirmAgreement(actor=MENTEE, terms=terms(first)))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    await lifecycle.sleep_until(first + timedelta(hours=1))
    await pair.do(log(MENTOR, first, notes="Mock interview"))
    await pair.do(mentor_feedback(1))
    await pair.do(mentee_feedback(1))
    await pair.do(c.Pause(actor=OPERATOR, reason="Parental leave"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await pair.do(c.Resume(actor=Actor(role=Role.MENTOR, id="alice")))
    assert "only the operator can resume" in str(refused.value.cause)

    rows = lifecycle.ledger.events(pair.id)
    signed = {(row.type, row.actor) for row in rows}
    assert {
        ("RelationshipStarted", "system:system"),
        ("GoalsSubmitted", "mentee:bob"),
        ("CommitmentSubmitted", "mentor:alice"),
        ("AgreementConfirmed", "mentee:bob"),
        ("AgreementConfirmed", "mentor:alice"),
        ("AgreementSigned", "system:system"),
        ("MeetingLogged", "mentor:alice"),
        ("FeedbackRequested", "system:system"),
        ("MentorFeedbackGiven", "mentor:alice"),
        ("MenteeFeedbackGiven", "mentee:bob"),
        ("Paused", "operator:olga"),
    } <= signed
    assert {row.actor for row in rows} <= {
        "system:system",
        "mentor:alice",
        "mentee:bob",
        "operator:olga",
    }
    assert "Resumed" not in {row.type for row in rows}


# ------------------------------------------------------------------ start and import


@settings(max_examples=1000, deadline=None, suppress_health_check=SLOW)
@given(raw=mutated(request(end_date=(T0 + 200 * DAY).date()).model_dump(mode="json")))
def test_a_hostile_start_request_is_refused_with_a_reason_or_starts_cleanly(
    raw: dict[str, Any],
) -> None:
    parsers: list[Callable[[], StartRelationship]] = [
        lambda: StartRelationship.model_validate(raw),
        lambda: StartRelationship.model_validate_json(
            pydantic_core.to_json(raw, inf_nan_mode="null")
        ),
    ]
    for parse in parsers:
        try:
            req = parse()
        except ValidationError as err:
            assert err.errors()
            TRIED["start: invalid (pydantic)"] += 1
            continue
        try:
            check_start(req, T0)
        except ValueError as err:
            assert str(err).startswith("end_date:")
            TRIED["start: rejected"] += 1
            continue
        outcome = start(req, req.workflow_id, T0)
        assert outcome.recorded[0].event.type == "RelationshipStarted"
        assert outcome.state.phase is Phase.ONBOARDING
        TRIED["start: accepted"] += 1


# ------------------------------------------------------------------ sizes


def _largest(kind: type[c.Command], fill: str) -> c.Command:
    """The command with every text at its limit and every list full, written in `fill`."""

    def text(n: int) -> str:
        return (fill * n)[:n] if len(fill) == 1 else fill * n

    def short(i: int) -> str:
        return f"Step {i} " + text(MAX_SHORT - 8)

    def specific(i: int) -> str:
        return f"Present the design review {i} to the staff meeting " + text(MAX_SHORT * 2 - 60)

    moment = WHEN
    shorts = [short(i) for i in range(MAX_ITEMS)]
    base = BASELINES[kind].model_dump()
    big: dict[type[c.Command], dict[str, Any]] = {
        c.SubmitGoals: {"objectives": shorts[:10], "challenges": shorts},
        c.SubmitCommitment: {
            "availability": short(0),
            "expertise": shorts,
            "communication": short(1),
            "boundaries": shorts,
        },
        c.SubmitAgenda: {"items": shorts[:10]},
        c.LogMeeting: {
            "held_at": moment,
            "notes": text(MAX_TEXT),
            "action_items": shorts,
            "wins": shorts,
        },
        c.RescheduleMeeting: {"reason": text(MAX_REASON)},
        c.ReportProgress: {"item_id": "i" * 32, "note": text(MAX_TEXT)},
        c.GiveMentorFeedback: {
            "strengths": [specific(i) for i in range(10)],
            "development_areas": [
                {"behaviour": specific(i), "suggested_step": specific(i + 10), "due_in_days": 9}
                for i in range(5)
            ],
        },
        c.GiveMenteeFeedback: {
            "what_helps": [specific(i) for i in range(10)],
            "what_to_change": [specific(i) for i in range(10, 20)],
        },
        c.RequestReview: {"reason": text(MAX_REASON)},
        c.SubmitReview: {
            "progress": {f"objective-{i:022d}": 3 for i in range(100)},
            "comment": text(MAX_TEXT),
            "decision": "evolve",
            "evolution": {
                "cadence": {"kind": "monthly"},
                "format": "hybrid",
                "add_objectives": shorts[:10],
                "retire_objectives": [f"o{i:031d}" for i in range(10)],
            },
        },
        c.Conclude: {"reason": text(MAX_REASON)},
        c.SubmitReflection: {
            "highlights": shorts[:10],
            "wins": shorts,
            "goals_met": [f"o{i:031d}" for i in range(10)],
            "next_steps": text(MAX_TEXT),
        },
        c.Pause: {"reason": text(MAX_REASON)},
        c.ChangeCadence: {"reason": text(MAX_REASON)},
        c.Cancel: {"reason": text(MAX_REASON)},
    }
    return kind.model_validate(base | big.get(kind, {}))


FILLS = {"ascii": "x", "4-byte": "🦀", "escaped": "\x01"}
LIMIT = 256 * 1024  # an eighth of Temporal's 2 MiB payload cap


async def test_the_largest_valid_command_stays_far_below_temporals_payload_limit() -> None:
    sealed = data_converter(Settings(_env_file=None, codec_keys=SecretStr(generate_key("k"))))
    sizes: dict[str, int] = {}
    for kind in KINDS:
        for name, fill in FILLS.items():
            command = _largest(kind, fill)
            [plain] = await data_converter().encode([command])
            [encrypted] = await sealed.encode([command])
            sizes[f"{kind.__name__} ({name})"] = max(plain.ByteSize(), encrypted.ByteSize())
    largest = max(sizes, key=lambda k: sizes[k])
    FIGURES["largest command payload"] = (
        f"{largest}, {sizes[largest]} bytes encoded (limit {LIMIT}; Temporal's cap 2 MiB)"
    )
    assert sizes[largest] < LIMIT
    assert sizes["LogMeeting (ascii)"] > MAX_TEXT + MAX_ITEMS * MAX_SHORT  # really at the limit


def test_one_character_over_a_limit_is_refused_and_names_the_field() -> None:
    over = log(MENTEE, WHEN).model_dump() | {"notes": "x" * (MAX_TEXT + 1)}
    with pytest.raises(ValidationError) as refused:
        c.LogMeeting.model_validate(over)
    assert refused.value.errors()[0]["loc"] == ("notes",)
    too_many = review(MENTOR, 1, c.ReviewDecision.CONTINUE).model_dump() | {
        "progress": {f"o{i}": 3 for i in range(101)}
    }
    with pytest.raises(ValidationError, match="progress"):
        c.SubmitReview.model_validate(too_many)


# ------------------------------------------------------------------ the workflow itself
#
# These run on the real dev server: it drops the speculative workflow task of a rejected
# update, so "no event in history" holds exactly. The time-skipping test server writes a
# workflow task (three events) for every update, rejected or not, so there only the absence
# of update events could be shown.


@st.composite
def wire_commands(draw: st.DrawFn) -> tuple[str, Any]:
    kind, raw = draw(hostile_commands())
    return UPDATES[kind], raw


@pytest.fixture
async def live(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Lifecycle]:
    """A worker on the real dev server, its own task queue, ledger and outbox."""
    ledger = Ledger.from_url(settings.resolved_ledger_url)
    async with build_worker(dev_env.client, settings, lifecycle_activities(settings, ledger)):
        yield Lifecycle(dev_env, settings, ledger)
    ledger.dispose()


async def _onboarded(life: Lifecycle) -> Pair:
    pair = await life.start(request(relationship_id=f"hostile-{uuid.uuid4().hex[:8]}"))
    await pair.do(goals())
    await pair.do(commitment())
    first = await life.now() + 7 * DAY
    await pair.do(c.ConfirmAgreement(actor=MENTEE, terms=terms(first)))
    await pair.do(c.ConfirmAgreement(actor=MENTOR))
    return pair


async def _settled_history_length(pair: Pair) -> int:
    """History length once notifications and ledger writes of earlier commands are done."""
    client = pair.life.env.client
    for _ in range(400):
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=pair.id)
            )
        )
        idle = not described.pending_activities and not described.HasField("pending_workflow_task")
        if idle and (await pair.status()).ledger_pending == 0:
            return len((await pair.handle.fetch_history()).events)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{pair.id} never went quiet")


PAIRS: dict[int, Pair] = {}
WIRE = [*SLOW, HealthCheck.function_scoped_fixture]


@pytest.mark.devserver
@settings(max_examples=50, deadline=None, suppress_health_check=WIRE, database=None)
@given(case=wire_commands())
async def test_refused_updates_leave_no_trace_in_history(
    live: Lifecycle, case: tuple[str, Any]
) -> None:
    """One relationship takes the examples, so accepted ones move it along as they would."""
    pair = PAIRS.get(id(live))
    if pair is None or (await pair.status()).state.finished:
        pair = PAIRS[id(live)] = await _onboarded(live)
    TRIED[f"workflow: {await _send(pair, *case)}"] += 1


@pytest.mark.devserver
async def test_certain_refusals_leave_no_trace_in_history(live: Lifecycle) -> None:
    pair = await _onboarded(live)
    verdicts = [await _send(pair, name, raw) for name, raw in _certain_refusals()]
    assert verdicts == ["rejected, history unchanged"] * len(verdicts)
    TRIED["workflow: rejected, history unchanged"] += len(verdicts)


async def _send(pair: Pair, name: str, raw: Any) -> str:
    length_before = await _settled_history_length(pair)
    state_before = (await pair.status()).state
    try:
        await pair.handle.execute_update(name, raw)
    except WorkflowUpdateFailedError as failure:
        assert str(failure.cause), "a refusal says why"
        assert len((await pair.handle.fetch_history()).events) == length_before
        assert (await pair.status()).state == state_before
        return "rejected, history unchanged"
    assert (await pair.status()).state.seq > state_before.seq
    return "accepted"


FLOOD = {f"o{i}": 3 for i in range(20_000)}  # 200 kB of unknown fields


def test_a_flood_of_unknown_fields_gets_a_short_refusal_from_the_converter() -> None:
    [payload] = data_converter().payload_converter.to_payloads([FLOOD])
    with pytest.raises(
        ValueError, match=r"invalid Cancel: actor: Field required.*and \d+ more"
    ) as e:
        data_converter().payload_converter.from_payloads([payload], [c.Cancel])
    assert len(str(e.value)) < MAX_ERROR < payload.ByteSize()


@pytest.mark.devserver
async def test_a_flood_of_unknown_fields_gets_a_short_refusal_from_the_workflow(
    live: Lifecycle,
) -> None:
    pair = await _onboarded(live)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await pair.handle.execute_update("cancel", FLOOD)
    chain: list[str] = []
    cause: BaseException | None = refused.value.cause
    while cause is not None:
        chain.append(str(cause))
        cause = cause.__cause__
    assert "and 19997 more" in " ".join(chain)
    assert sum(len(text) for text in chain) < MAX_ERROR
    TRIED["workflow: rejected, history unchanged"] += 1


def _certain_refusals() -> list[tuple[str, Any]]:
    """Inputs that must be refused whatever hypothesis drew: bad shape, wrong person, bad time."""
    feedback = mentor_feedback(1).model_dump(mode="json")
    return [
        ("submit_goals", goals().model_dump(mode="json")),  # onboarding is over
        ("give_mentor_feedback", feedback | {"actor": MENTEE.model_dump()}),
        ("log_meeting", {"actor": MENTEE.model_dump(), "held_at": "2020-01-01T00:00:00"}),
        ("log_meeting", log(MENTEE, WHEN).model_dump(mode="json") | {"notes": "x" * 5000}),
        ("pause", {"actor": MENTOR.model_dump(), "reason": "Busy"}),
        ("conclude", {"actor": {"role": "mentor", "id": "mallory"}, "reason": "Hijack"}),
        ("submit_review", {"junk": True}),
        ("change_cadence", {"actor": OPERATOR.model_dump(), "cadence": {"kind": "hourly"}}),
    ]
