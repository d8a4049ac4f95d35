"""What the relationship asks of one person now, as forms, most pressing first; and what
else they may do (reschedule, conclude) below it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mentorship.onboarding import asks as onboarding_asks
from mentorship.participants import Role
from mentorship.state import Meeting, Phase, RelationshipState
from web.forms import CADENCES, DECISIONS, FORMATS, PROGRESS, RATINGS, SPECIFIC, Field, Form
from web.views import local_input, local_text

_RUNNING = (Phase.ACTIVE, Phase.UNDER_REVIEW)


@dataclass
class Ask:
    form: Form
    values: dict[str, str] = field(default_factory=dict)
    why: str = ""


GOALS = Form(
    "goals",
    "Your goals",
    [
        Field(
            "objectives",
            "Learning objectives",
            "lines",
            "One per line, e.g. 'Lead a design review end to end'.",
            required=True,
        ),
        Field("challenges", "Current challenges", "lines", "One per line."),
        Field(
            "proposed_cadence",
            "How often would you like to meet?",
            "select",
            options=CADENCES,
            required=True,
        ),
        Field("proposed_format", "Format", "select", options=FORMATS, required=True),
    ],
    "Send my goals",
)
COMMITMENT = Form(
    "commitment",
    "Your commitment",
    [
        Field(
            "capacity_per_month",
            "Meetings a month you can give",
            "number",
            "Weekly is 4, every two weeks 2, monthly 1.",
            required=True,
        ),
        Field("availability", "Availability, in your words", required=True),
        Field(
            "window",
            "Weekly hours for meetings",
            help="e.g. 'tue,thu 14:00-17:00' (your time zone unless you name one)",
        ),
        Field("expertise", "Areas of expertise", "lines", "One per line.", required=True),
        Field("communication", "How you prefer to communicate", required=True),
        Field("boundaries", "Boundaries", "lines", "One per line, e.g. 'no weekend messages'."),
    ],
    "Send my commitment",
)
CONFIRM = Form(
    "confirm",
    "Confirm the agreement",
    [
        Field(
            "link",
            "Video call link",
            "text",
            "For virtual or hybrid meetings, https://...; it goes on every calendar invite.",
        ),
        Field("place", "Where you meet in person", "text", "For in-person or hybrid meetings."),
    ],
    "I confirm the agreement",
)
AGENDA = Form(
    "agenda",
    "Send an agenda",
    [
        Field("meeting_number", "", "hidden"),
        Field("items", "Agenda items", "lines", "One per line.", required=True),
    ],
    "Send the agenda",
)
LOG = Form(
    "log",
    "Log the meeting",
    [
        Field("meeting_number", "", "hidden"),
        Field("held_at", "When it was held", "datetime", required=True),
        Field("duration_minutes", "Minutes", "number", required=True),
        Field("notes", "Notes", "textarea"),
        Field(
            "action_items",
            "Action items",
            "lines",
            "One per line; each becomes an item to report on.",
        ),
        Field("wins", "Wins", "lines", "One per line; they are celebrated."),
    ],
    "Log it",
)
RESCHEDULE = Form(
    "reschedule",
    "Move the next meeting",
    [
        Field("meeting_number", "", "hidden"),
        Field("new_time", "New time", "datetime", required=True),
        Field("reason", "Why", required=True),
    ],
    "Move it",
)
PROGRESS_FORM = Form(
    "progress",
    "Report progress on an action item",
    [
        Field("item_id", "Item", "select", required=True),
        Field("status", "Status", "select", options=PROGRESS, required=True),
        Field("note", "Note", "textarea"),
    ],
    "Report progress",
)
MENTOR_FEEDBACK = Form(
    "mentor_feedback",
    "Feedback for your mentee",
    [
        Field("loop_number", "", "hidden"),
        Field(
            "strengths",
            "Strengths you saw",
            "lines",
            "One per line; specific behaviour, not traits.",
            required=True,
        ),
        Field("area1_behaviour", "An area to develop: the behaviour", required=True),
        Field("area1_step", "A concrete next step", required=True),
        Field("area1_due", "Due in (days)", "number"),
        Field("area2_behaviour", "Another area (optional): the behaviour"),
        Field("area2_step", "Its next step"),
        Field("area2_due", "Due in (days)", "number"),
    ],
    "Send my feedback",
    guidance=SPECIFIC,
)
MENTEE_FEEDBACK = Form(
    "mentee_feedback",
    "Feedback for your mentor",
    [
        Field("loop_number", "", "hidden"),
        Field(
            "what_helps",
            "What helps you",
            "lines",
            "One per line; name what they did.",
            required=True,
        ),
        Field("what_to_change", "What to change", "lines", "One per line."),
    ],
    "Send my feedback",
    guidance="Name what your mentor did and when, so they can do more of it (or less).",
)
CONCLUDE = Form(
    "conclude",
    "End the relationship",
    [Field("reason", "Why", required=True)],
    "Conclude",
    guidance="You will both be asked for closing reflections; nothing is deleted.",
)


def reflection_form(s: RelationshipState) -> Form:
    goals = [Field(f"met_{k}", v, "checkbox") for k, v in s.objectives.items()]
    return Form(
        "reflection",
        "Closing reflection",
        [
            Field("highlights", "Highlights", "lines", "One per line.", required=True),
            Field("wins", "Wins", "lines", "One per line."),
            *goals,
            Field("next_steps", "What next", "textarea"),
        ],
        "Send my reflection",
    )


def review_form(s: RelationshipState) -> Form:
    ratings = [
        Field(f"progress_{k}", f"Progress on: {v}", "select", options=[("", "-"), *RATINGS])
        for k, v in s.objectives.items()
    ]
    return Form(
        "review",
        "Review the relationship",
        [
            Field("review_number", "", "hidden"),
            Field(
                "effectiveness",
                "How well is it working? (1 to 5)",
                "select",
                options=RATINGS,
                required=True,
            ),
            *ratings,
            Field("decision", "What next", "select", options=DECISIONS, required=True),
            Field(
                "evolve_cadence",
                "If evolving: new cadence",
                "select",
                options=[("", "keep it"), *CADENCES],
            ),
            Field("add_objectives", "If evolving: new objectives", "lines", "One per line."),
            Field("comment", "Comment", "textarea"),
        ],
        "Send my review",
        guidance="Both of you answer; any 'conclude' concludes, any 'evolve' amends the agreement.",
    )


def progress_form(s: RelationshipState) -> Form:
    options = [(i.id, f"{i.id}: {i.description}") for i in s.open_items()]
    fields = [
        f
        if f.name != "item_id"
        else Field("item_id", "Item", "select", options=options, required=True)
        for f in PROGRESS_FORM.fields
    ]
    return Form(PROGRESS_FORM.action, PROGRESS_FORM.title, fields, PROGRESS_FORM.submit)


def asked(s: RelationshipState, role: Role, now: datetime, zone: str) -> list[Ask]:
    """What is asked of this person now, most pressing first."""
    if s.phase is Phase.ONBOARDING:
        forms = {"goals": GOALS, "commitment": COMMITMENT, "confirm": CONFIRM}
        return [Ask(forms[a]) for a in onboarding_asks(s, role)]
    if s.phase is Phase.CONCLUDING and s.conclusion is not None:
        if role not in s.conclusion.reflections:
            return [Ask(reflection_form(s), why="The relationship is concluding.")]
        return []
    if s.phase not in _RUNNING:
        return []
    found: list[Ask] = []
    review = s.open_review
    if review is not None and role not in review.submissions:
        why = f"Review {review.number} is open ({review.reason.value.replace('_', ' ')})."
        found.append(Ask(review_form(s), {"review_number": str(review.number)}, why))
    for loop in s.loops:
        if loop.closed_at is not None:
            continue
        if role is Role.MENTOR and loop.mentor_strengths is None:
            found.append(
                Ask(
                    MENTOR_FEEDBACK,
                    {"loop_number": str(loop.number)},
                    f"Feedback loop {loop.number} is open.",
                )
            )
        if role is Role.MENTEE and loop.mentee_what_helps is None:
            found.append(
                Ask(
                    MENTEE_FEEDBACK,
                    {"loop_number": str(loop.number)},
                    f"Feedback loop {loop.number} is open.",
                )
            )
    meeting = s.next_meeting
    if meeting is not None:
        found.extend(_meeting_asks(s, meeting, role, now, zone))
    if s.open_items():
        found.append(Ask(progress_form(s), why="Open action items wait for a report."))
    return found


def _meeting_asks(
    s: RelationshipState, meeting: Meeting, role: Role, now: datetime, zone: str
) -> list[Ask]:
    number = str(meeting.number)
    if meeting.scheduled_at <= now:
        minutes = str(s.agreement.session_minutes if s.agreement else 60)
        values = {
            "meeting_number": number,
            "held_at": local_input(meeting.scheduled_at, zone),
            "duration_minutes": minutes,
        }
        return [
            Ask(
                LOG,
                values,
                f"Meeting {number} was due {local_text(meeting.scheduled_at, zone)}.",
            )
        ]
    if role is Role.MENTEE and not meeting.agenda:
        return [Ask(AGENDA, {"meeting_number": number}, f"Meeting {number} is coming up.")]
    return []


def also_possible(s: RelationshipState, role: Role, now: datetime) -> list[Ask]:
    if s.phase not in _RUNNING:
        return []
    more = []
    meeting = s.next_meeting
    if meeting is not None and meeting.scheduled_at > now:
        more.append(Ask(RESCHEDULE, {"meeting_number": str(meeting.number)}))
    more.append(Ask(CONCLUDE))
    return more
