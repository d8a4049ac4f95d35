"""The portal's forms: what each one asks, and how its fields become a domain command.

Plain HTML forms, so every value arrives as text. A form's fields are turned into the
command's shape here; the command's own validation (and then the domain's `decide`) says
what is wrong, and each error is shown next to the field it concerns. The actor is never a
field: it comes from the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from mentorship import commands as c
from mentorship.availability import Window
from mentorship.cadence import Cadence, MeetingFormat
from mentorship.onboarding import terms_on_the_table
from mentorship.participants import Actor
from mentorship.revisions import CURRENT
from mentorship.state import RelationshipState

CADENCES = [
    ("weekly", "Weekly"),
    ("biweekly", "Every two weeks"),
    ("monthly", "Monthly"),
    ("quarterly", "Quarterly"),
]
FORMATS = [(f.value, f.value.replace("_", " ").capitalize()) for f in MeetingFormat]
PROGRESS = [("in_progress", "In progress"), ("done", "Done"), ("blocked", "Blocked")]
DECISIONS = [
    ("continue", "Continue as we are"),
    ("evolve", "Evolve: change the cadence or add goals"),
    ("conclude", "Conclude the relationship"),
]
RATINGS = [(str(n), str(n)) for n in range(1, 6)]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, lines, select, datetime, number, hidden
    help: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    required: bool = False


@dataclass(frozen=True)
class Form:
    action: str
    title: str
    fields: list[Field]
    submit: str
    guidance: str = ""


class FormError(ValueError):
    """What was wrong, by form field ("" for the form as a whole)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


SPECIFIC = (
    "Be specific: name a behaviour you saw and when (\"in Tuesday's review you summarised "
    'the trade-offs before proposing"), not a trait ("you\'re great"). Give each area a '
    "concrete next step."
)


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def moment(value: str, zone_name: str) -> str:
    """A `datetime-local` value read in the person's time zone, as the command expects."""
    if not value.strip():
        return ""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        local = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    aware = local if local.tzinfo else local.replace(tzinfo=zone)
    return aware.isoformat()


@dataclass(frozen=True)
class Context:
    state: RelationshipState
    actor: Actor
    zone: str
    now: datetime  # the engine's time: what a confirmation's proposed terms are worked out at


Builder = Callable[[Mapping[str, str], Context], tuple[type[c.Command], dict[str, Any]]]


def _goals(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    cadence: Any = form.get("proposed_cadence", "")
    try:
        cadence = Cadence.parse(cadence).model_dump(mode="json")
    except ValueError as err:
        raise FormError({"proposed_cadence": str(err)}) from None
    return c.SubmitGoals, {
        "objectives": lines(form.get("objectives", "")),
        "challenges": lines(form.get("challenges", "")),
        "proposed_cadence": cadence,
        "proposed_format": form.get("proposed_format", ""),
    }


def _commitment(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    window: Any = None
    if form.get("window", "").strip():
        try:
            window = Window.parse(form["window"]).model_dump(mode="json")
        except ValueError as err:
            raise FormError({"window": str(err)}) from None
    return c.SubmitCommitment, {
        "capacity_per_month": form.get("capacity_per_month", ""),
        "availability": form.get("availability", ""),
        "window": window,
        "expertise": lines(form.get("expertise", "")),
        "communication": form.get("communication", ""),
        "boundaries": lines(form.get("boundaries", "")),
    }


def _confirm(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    """The terms on the table, with a meeting link or place when one is typed."""
    added = {k: v for k in ("link", "place") if (v := form.get(k, "").strip())}
    table = terms_on_the_table(ctx.state, ctx.now, CURRENT)
    if not added or table is None:  # without goals the domain says what comes first
        return c.ConfirmAgreement, {}
    return c.ConfirmAgreement, {"terms": {**table.model_dump(exclude_none=True), **added}}


def _agenda(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    return c.SubmitAgenda, {
        "meeting_number": form.get("meeting_number", ""),
        "items": lines(form.get("items", "")),
    }


def _log(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    return c.LogMeeting, {
        "meeting_number": form.get("meeting_number") or None,
        "held_at": moment(form.get("held_at", ""), ctx.zone),
        "duration_minutes": form.get("duration_minutes", ""),
        "notes": form.get("notes", ""),
        "action_items": lines(form.get("action_items", "")),
        "wins": lines(form.get("wins", "")),
    }


def _reschedule(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    return c.RescheduleMeeting, {
        "meeting_number": form.get("meeting_number", ""),
        "new_time": moment(form.get("new_time", ""), ctx.zone),
        "reason": form.get("reason", ""),
    }


def _progress(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    return c.ReportProgress, {
        "item_id": form.get("item_id", ""),
        "status": form.get("status", ""),
        "note": form.get("note", ""),
    }


def _mentor_feedback(
    form: Mapping[str, str], ctx: Context
) -> tuple[type[c.Command], dict[str, Any]]:
    areas = []
    for n in (1, 2):
        behaviour = form.get(f"area{n}_behaviour", "").strip()
        step = form.get(f"area{n}_step", "").strip()
        due = form.get(f"area{n}_due", "").strip()
        if behaviour or step or n == 1:
            areas.append(
                {"behaviour": behaviour, "suggested_step": step, "due_in_days": due or None}
            )
    return c.GiveMentorFeedback, {
        "loop_number": form.get("loop_number", ""),
        "strengths": lines(form.get("strengths", "")),
        "development_areas": areas,
    }


def _mentee_feedback(
    form: Mapping[str, str], ctx: Context
) -> tuple[type[c.Command], dict[str, Any]]:
    return c.GiveMenteeFeedback, {
        "loop_number": form.get("loop_number", ""),
        "what_helps": lines(form.get("what_helps", "")),
        "what_to_change": lines(form.get("what_to_change", "")),
    }


def _conclude(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    return c.Conclude, {"reason": form.get("reason", "")}


def _reflection(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    met = [k[len("met_") :] for k, v in form.items() if k.startswith("met_") and v]
    return c.SubmitReflection, {
        "highlights": lines(form.get("highlights", "")),
        "wins": lines(form.get("wins", "")),
        "goals_met": met,
        "next_steps": form.get("next_steps", ""),
    }


def _review(form: Mapping[str, str], ctx: Context) -> tuple[type[c.Command], dict[str, Any]]:
    progress = {
        k.removeprefix("progress_"): v
        for k, v in form.items()
        if k.startswith("progress_") and v.strip()
    }
    evolution: dict[str, Any] | None = None
    if form.get("decision") == "evolve":
        evolution = {"add_objectives": lines(form.get("add_objectives", ""))}
        if form.get("evolve_cadence", "").strip():
            try:
                cadence = Cadence.parse(form["evolve_cadence"])
            except ValueError as err:
                raise FormError({"evolve_cadence": str(err)}) from None
            evolution["cadence"] = cadence.model_dump(mode="json")
    return c.SubmitReview, {
        "review_number": form.get("review_number", ""),
        "effectiveness": form.get("effectiveness", ""),
        "progress": progress,
        "decision": form.get("decision", ""),
        "evolution": evolution,
        "comment": form.get("comment", ""),
    }


BUILDERS: dict[str, Builder] = {
    "goals": _goals,
    "commitment": _commitment,
    "confirm": _confirm,
    "agenda": _agenda,
    "log": _log,
    "reschedule": _reschedule,
    "progress": _progress,
    "mentor_feedback": _mentor_feedback,
    "mentee_feedback": _mentee_feedback,
    "conclude": _conclude,
    "reflection": _reflection,
    "review": _review,
}

# Where an error at a command field is shown when the form names the field differently.
_FIELD_OF: dict[tuple[str, str], str] = {
    ("confirm", "terms.link"): "link",
    ("confirm", "terms.place"): "place",
    ("mentor_feedback", "development_areas.0.behaviour"): "area1_behaviour",
    ("mentor_feedback", "development_areas.0.suggested_step"): "area1_step",
    ("mentor_feedback", "development_areas.0.due_in_days"): "area1_due",
    ("mentor_feedback", "development_areas.1.behaviour"): "area2_behaviour",
    ("mentor_feedback", "development_areas.1.suggested_step"): "area2_step",
    ("mentor_feedback", "development_areas.1.due_in_days"): "area2_due",
    ("mentor_feedback", "development_areas"): "area1_behaviour",
    ("reflection", "goals_met"): "goals_met",
    ("review", "evolution"): "evolve_cadence",
    ("review", "progress"): "comment",
}


def build(action: str, form: Mapping[str, str], ctx: Context) -> c.Command:
    """The command a submitted form means, or FormError naming each field at fault."""
    builder = BUILDERS.get(action)
    if builder is None:
        raise FormError({"": f"there is no form '{action}'"})
    kind, fields = builder(form, ctx)
    try:
        return kind.model_validate({**fields, "actor": ctx.actor.model_dump()})
    except ValidationError as err:
        raise FormError(field_errors(action, err)) from None


def field_errors(action: str, err: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in err.errors():
        loc = [str(part) for part in problem["loc"] if not str(part).startswith("function-")]
        path = ".".join(loc)
        name = _FIELD_OF.get((action, path)) or _FIELD_OF.get((action, ".".join(loc[:1])))
        name = name or (loc[0] if loc else "")
        message = str(problem["msg"]).removeprefix("Value error, ")
        errors.setdefault(name, message)
    return errors


def for_domain_field(action: str, domain_field: str) -> str:
    """A refusal from the domain names a command field; the form may call it otherwise."""
    head = domain_field.split(".")[0]
    return _FIELD_OF.get((action, domain_field)) or head
