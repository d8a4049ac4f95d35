"""A mentee and a mentor do their part from the links in their emails, in real Chromium:
onboarding, a meeting log, feedback both ways and progress on an item. Every page is saved
as a screenshot under .artifacts/portal/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from mentorship import events as ev
from mentorship.participants import Role
from mentorship.policy import Policy
from tests.factories import request
from tests.portal_rig import PortalRig, person, running_portal, shot
from worker.settings import Settings


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[PortalRig]:
    async with running_portal(time_env, settings) as running:
        yield running


async def test_a_pair_does_its_part_from_their_links(browser: Browser, rig: PortalRig) -> None:
    pair = await rig.start(request(policy=Policy(feedback_every_meetings=1)))
    mentee, mentor = await person(browser), await person(browser)

    # The mentee opens the link in the welcome email: the token becomes a session.
    await mentee.goto(await rig.wait_for(pair, "welcome", "mentee"))
    assert mentee.url == f"{rig.url}/me", "the token does not stay in the address bar"
    await expect(mentee.get_by_role("heading", name="Your goals")).to_be_visible()
    await shot(mentee, "01-mentee-goals")
    await mentee.get_by_label("Learning objectives").fill(
        "Lead a design review end to end\nPresent to the leadership team"
    )
    await mentee.get_by_label("Current challenges").fill("Nervous in large meetings")
    await mentee.get_by_label("How often would you like to meet?").select_option("biweekly")
    await mentee.get_by_label("Format").select_option("virtual")
    await mentee.get_by_role("button", name="Send my goals").click()
    await expect(mentee.get_by_role("status")).to_contain_text("recorded")
    await shot(mentee, "02-mentee-goals-sent")

    await mentor.goto(await rig.wait_for(pair, "welcome", "mentor"))
    await mentor.get_by_label("Meetings a month you can give").fill("2")
    await mentor.get_by_label("Availability, in your words").fill("Tuesday afternoons")
    await mentor.get_by_label("Weekly hours for meetings").fill("tue 14:00-17:00")
    await mentor.get_by_label("Areas of expertise").fill("system design")
    await mentor.get_by_label("How you prefer to communicate").fill("email")
    await shot(mentor, "03-mentor-commitment")
    await mentor.get_by_role("button", name="Send my commitment").click()
    await expect(mentor.get_by_role("heading", name="Confirm the agreement")).to_be_visible()
    await shot(mentor, "04-mentor-confirm")
    await mentor.get_by_role("button", name="I confirm the agreement").click()

    await mentee.reload()
    await mentee.get_by_role("button", name="I confirm the agreement").click()
    await expect(mentee.get_by_role("heading", name="Your agreement")).to_be_visible()
    await expect(mentee.get_by_role("link", name="add to calendar (.ics)")).to_be_visible()
    await shot(mentee, "05-mentee-agreement")

    # After the first meeting, the page asks either of them to log it.
    meeting = (await pair.status()).state.next_meeting
    assert meeting is not None
    await rig.life.sleep_until(meeting.scheduled_at + timedelta(hours=1))
    await mentee.reload()
    await expect(mentee.get_by_role("heading", name="Log the meeting")).to_be_visible()
    await mentee.get_by_label("Notes").fill("Walked through the review plan.")
    await mentee.get_by_label("Action items").fill("Draft the RFC outline")
    await mentee.get_by_label("Wins").fill("Ran my first design review")
    await shot(mentee, "06-mentee-log")
    await mentee.get_by_role("button", name="Log it").click()
    await expect(mentee.get_by_role("status")).to_contain_text("recorded")

    # Feedback in both directions; vague feedback is refused next to its field.
    await mentor.reload()
    await expect(mentor.get_by_role("heading", name="Feedback for your mentee")).to_be_visible()
    await mentor.get_by_label("Strengths you saw").fill("good job")
    await mentor.get_by_label("An area to develop: the behaviour").fill("be better")
    await mentor.get_by_label("A concrete next step").fill("try harder")
    await mentor.get_by_role("button", name="Send my feedback").click()
    problem = mentor.locator("#mentor_feedback .has-problem .problem").first
    await expect(problem).to_be_visible()
    await shot(mentor, "07-mentor-feedback-refused")
    await mentor.get_by_label("Strengths you saw").fill(
        "In the design review you summarised the trade-offs before proposing a design"
    )
    await mentor.get_by_label("An area to develop: the behaviour").fill(
        "Interrupting colleagues before they finish their point in reviews"
    )
    await mentor.get_by_label("A concrete next step").fill(
        "Wait for a full pause and summarise their point before replying"
    )
    await mentor.locator("#mentor_feedback-area1_due").fill("14")
    await mentor.get_by_role("button", name="Send my feedback").click()
    await expect(mentor.get_by_role("status")).to_contain_text("recorded")
    await shot(mentor, "08-mentor-feedback-sent")

    await mentee.reload()
    await mentee.get_by_label("What helps you").fill(
        "When you asked me to walk through my reasoning before the design review"
    )
    await mentee.get_by_role("button", name="Send my feedback").click()
    await expect(mentee.get_by_role("status")).to_contain_text("recorded")

    # Progress on the meeting's action item.
    item = next(i for i in (await pair.status()).state.open_items() if i.source == "meeting 1")
    await mentee.locator("#progress-item_id").select_option(item.id)
    await mentee.locator("#progress-status").select_option("done")
    await mentee.locator("#progress-note").fill("Outline shared with the team")
    await mentee.get_by_role("button", name="Report progress").click()
    await expect(mentee.get_by_role("status")).to_contain_text("recorded")
    await shot(mentee, "09-mentee-progress")

    recorded = pair.ledger()
    by_type = {type(r.event).__name__: r.actor for r in recorded}
    assert by_type["GoalsSubmitted"].role is Role.MENTEE
    assert by_type["CommitmentSubmitted"].role is Role.MENTOR
    assert "AgreementSigned" in by_type
    assert by_type["MeetingLogged"].id == pair_mentee_id(recorded)
    assert by_type["MentorFeedbackGiven"].role is Role.MENTOR
    assert by_type["MenteeFeedbackGiven"].role is Role.MENTEE
    assert [r.event.status.value for r in recorded if isinstance(r.event, ev.ProgressReported)] == [
        "done"
    ]
    vague = [r for r in recorded if isinstance(r.event, ev.MentorFeedbackGiven)]
    assert len(vague) == 1, "the refused feedback wrote nothing"


def pair_mentee_id(recorded: list[ev.Recorded]) -> str:
    started = next(r.event for r in recorded if isinstance(r.event, ev.RelationshipStarted))
    return started.mentee.id


async def test_an_operator_signs_in_sees_the_pair_and_pauses_and_resumes_it(
    browser: Browser, rig: PortalRig
) -> None:
    pair = await rig.start(request())
    operator = await person(browser)
    await operator.goto(f"{rig.url}/ops/sign-in")
    await operator.get_by_label("Your work email").fill("Olga@Example.org")
    await operator.get_by_role("button", name="Email me a sign-in link").click()
    await expect(operator.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    await shot(operator, "10-operator-sign-in")
    link = await rig.outbox_link("operator_sign_in", "olga@example.org")
    assert link is not None and "/ops/s/" in link

    await operator.goto(link)
    assert operator.url == f"{rig.url}/ops"
    await expect(operator.get_by_role("heading", name="eng-2026")).to_be_visible()
    await expect(operator.get_by_text("onboarding: 1")).to_be_visible()
    await shot(operator, "11-operator-dashboard")
    await operator.get_by_role("link", name="Alice Mentor & Bob Mentee").first.click()
    await expect(operator.locator("#phase")).to_have_text("onboarding")
    glance = operator.locator(".glance")
    await expect(glance).to_contain_text("Bob Mentee bob@example.org")
    await expect(glance).to_contain_text("none scheduled")
    await operator.get_by_label("Why pause").fill("Mentor on leave")
    await operator.get_by_role("button", name="Pause").click()
    await expect(operator.locator("#phase")).to_have_text("paused")
    await expect(operator.get_by_role("status")).to_have_text(
        "Paused: its meetings are off both calendars and its reminders wait until you resume."
    )
    await shot(operator, "12-operator-paused")
    assert (await pair.status()).state.phase.value == "paused"
    await operator.get_by_role("button", name="Resume").click()
    await expect(operator.locator("#phase")).to_have_text("onboarding")
    await shot(operator, "13-operator-resumed")

    paused = [r for r in pair.ledger() if isinstance(r.event, ev.Paused)]
    assert [(r.actor.role, r.actor.id) for r in paused] == [(Role.OPERATOR, "olga")]
