"""The operator's dashboard and pair page say what holds a relationship and what to do, and
the participant whose relationship is held is told so instead of being handed forms that
cannot be taken. Over real HTTP to the portal on loopback."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from client.access import admit_starter
from client.relationships import act, status
from ledger.chain import LedgerEntry
from ledger.records import to_entry
from ledger.store import IntegrityConflict
from mentorship.fold import replay
from mentorship.participants import Participant
from tests.audit_journeys import eventful, never_started, write
from tests.factories import MENTOR, OPS, T0, Journey, commitment, goals, request
from tests.portal_rig import (
    LedgerPortal,
    PortalRig,
    ledger_portal,
    oscar_runs_sales,
    person,
    running_portal,
    shot,
)
from tests.test_cli_commands import eventually
from tests.test_ledger_faults import remove_latest_row
from web.links import OperatorClaim
from worker.settings import Settings


async def test_the_dashboard_says_why_a_pair_is_at_risk_from_the_ledger_alone(
    settings: Settings,
) -> None:
    """The reasons come from the ledger's latest AtRiskRaised, as the fold takes them: the
    dashboard asks the engine nothing (this portal has none), so a worker that is down or
    slow cannot hold the page or cost the reasons."""
    journey = eventful("quiet-1")
    cut = T0 + timedelta(days=70)  # at risk then (see the report's chart table)
    history = [r for r in journey.history if r.occurred_at < cut]
    state = replay("quiet-1", history)
    assert state.at_risk and state.risk_reasons
    # At risk since the first raise after the last clear; the reasons are the latest raise's.
    cleared = max((r.seq for r in history if r.event.type == "AtRiskCleared"), default=0)
    raised = [r for r in history if r.event.type == "AtRiskRaised" and r.seq > cleared]
    assert len(raised) > 1 and raised[0].event != raised[-1].event

    async def fixed_clock() -> datetime:
        return cut

    async with ledger_portal(settings, fixed_clock) as running:
        write(running.ledger, history)
        admit_starter(running.ledger.engine, "eng-2026", OPS, T0)
        async with httpx.AsyncClient(base_url=running.url) as client:
            await client.get(running.sign_in_url())
            dashboard = await client.get("/ops")
    assert dashboard.status_code == 200
    said = html.unescape(dashboard.text)
    days = (cut - raised[0].occurred_at).days
    expected = f"Alice Mentor & Bob Mentee</a>, for {days} day{'' if days == 1 else 's'}: "
    assert expected + "; ".join(state.risk_reasons) + "</li>" in said


async def test_the_dashboard_lists_what_needs_an_operator_and_the_command_for_it(
    settings: Settings,
) -> None:
    """A pair the ledger refuses (a row went missing), one refused at its very first event,
    and one whose next event this release cannot read: each is listed with what to run."""

    async def fixed_clock() -> datetime:
        return T0 + timedelta(days=30)

    async with ledger_portal(settings, fixed_clock) as running:
        ledger = running.ledger
        held = [to_entry(r) for r in eventful("held-1").history]
        ledger.append(held[:10])
        with pytest.raises(IntegrityConflict):
            ledger.append(held[11:13])  # event 11 never arrived
        orphan = to_entry(eventful("orphan-1").history[1])
        with pytest.raises(IntegrityConflict):
            ledger.append([orphan])
        odd = [to_entry(r) for r in never_started("odd-1").history]
        ledger.append(odd[:3])
        alien = odd[3].model_dump() | {"type": "FromTheFuture"}
        ledger.append([LedgerEntry.model_validate(alien)])
        ledger.append([to_entry(r) for r in eventful("fine-1").history[:10]])
        admit_starter(ledger.engine, "eng-2026", OPS, T0)
        async with httpx.AsyncClient(base_url=running.url) as client:
            await client.get(running.sign_in_url())
            dashboard = await client.get("/ops")
    said = html.unescape(dashboard.text)
    assert dashboard.status_code == 200 and "Needs an operator" in said
    attention = said[said.index("Needs an operator") : said.index("</ul>", said.index("Needs"))]
    assert "event 11 of that relationship is not in" in attention
    assert "mentorflow repair held-1" in attention
    assert "orphan-1: held since" in attention and "mentorflow repair orphan-1" in attention
    assert "shown as of event 3: event 4 (FromTheFuture)" in attention
    assert "mentorflow audit verify odd-1" in attention
    assert "fine-1" not in attention


MANY = 120


@pytest.fixture
async def big_program(settings: Settings) -> AsyncIterator[LedgerPortal]:
    """120 pairs just started, 3 that never started (concluded) and 2 at risk."""

    async def fixed_clock() -> datetime:
        return T0 + timedelta(days=70)

    async with ledger_portal(settings, fixed_clock) as running:
        for i in range(MANY):
            mentee = Participant(id=f"m{i:03}", name=f"Mentee {i:03}", email=f"m{i}@example.org")
            write(running.ledger, Journey(request(mentee=mentee), rid=f"pair-{i:03}").history)
        for rid in ("gone-1", "gone-2", "gone-3"):
            write(running.ledger, never_started(rid).history)
        for rid in ("risky-1", "risky-2"):
            cut = T0 + timedelta(days=70)
            write(running.ledger, [r for r in eventful(rid).history if r.occurred_at < cut])
        admit_starter(running.ledger.engine, "eng-2026", OPS, T0)
        yield running


@asynccontextmanager
async def _signed_in(running: LedgerPortal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url) as client:
        await client.get(running.sign_in_url())
        yield client


async def test_a_big_program_shows_its_first_pairs_and_pages_through_the_rest(
    big_program: LedgerPortal,
) -> None:
    total = MANY + 5
    async with _signed_in(big_program) as client:
        dashboard = html.unescape((await client.get("/ops")).text)
        first = html.unescape((await client.get("/ops/p/eng-2026")).text)
        last = html.unescape((await client.get("/ops/p/eng-2026?page=3")).text)
    assert f"Pairs: search and filter ({total})" in dashboard
    assert dashboard.count("<tr><td>") == 20 and f"The other {total - 20} pairs" in dashboard
    assert f"1 to 50 of {total} pairs" in first and first.count("<tr><td>") == 50
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert f"101 to {total} of {total} pairs" in last and last.count("<tr><td>") == total - 100
    assert 'rel="next"' not in last and "?page=2" in last


async def test_pairs_are_found_by_name_phase_and_risk(big_program: LedgerPortal) -> None:
    async with _signed_in(big_program) as client:
        by_name = html.unescape((await client.get("/ops/p/eng-2026?q=mentee 042")).text)
        by_id = html.unescape((await client.get("/ops/p/eng-2026?q=PAIR-11")).text)
        ended = html.unescape((await client.get("/ops/p/eng-2026?phase=concluded")).text)
        risky = html.unescape((await client.get("/ops/p/eng-2026?at_risk=1")).text)
    assert '<p id="pairs-count">1 pair</p>' in by_name and "Alice Mentor & Mentee 042" in by_name
    assert '<p id="pairs-count">10 pairs</p>' in by_id  # pair-110 to pair-119
    assert '<p id="pairs-count">3 pairs</p>' in ended and ended.count("concluded</td>") == 3
    assert '<p id="pairs-count">2 pairs</p>' in risky and risky.count("at risk</td>") == 2
    assert 'href="/ops/r/risky-1"' in risky and 'href="/ops/r/pair-000"' not in risky


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("phase=bogus", "phase: 'bogus' is not a phase; choose one of onboarding, active"),
        ("page=0", "page: '0' is not a page number; use 1 or more"),
        ("page=9", "page: there are 3 pages; use 1 to 3"),
        ("q=" + "x" * 101, "q: longer than 100 characters; search for part of a name or id"),
    ],
)
async def test_a_bad_filter_is_named_next_to_its_field(
    big_program: LedgerPortal, query: str, said: str
) -> None:
    async with _signed_in(big_program) as client:
        page = await client.get(f"/ops/p/eng-2026?{query}")
    assert page.status_code == 400 and said in html.unescape(page.text)


async def test_only_the_programs_operators_see_its_pairs(big_program: LedgerPortal) -> None:
    async with httpx.AsyncClient(base_url=big_program.url) as stranger:
        assert (await stranger.get("/ops/p/eng-2026")).headers["location"] == "/ops/sign-in"
        await stranger.get(big_program.sign_in_url("oscar", "oscar@example.org"))
        refused = await stranger.get("/ops/p/eng-2026")
    assert refused.status_code == 403 and "not on the roster" in refused.text


async def test_an_operator_searches_the_pairs_in_the_browser(
    browser: Browser, big_program: LedgerPortal
) -> None:
    page = await person(browser)
    await page.goto(big_program.sign_in_url())
    await page.get_by_role("link", name="Pairs: search and filter (125)").click()
    await page.get_by_label("Name or id contains").fill("Mentee 007")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#pairs-count")).to_have_text("1 pair")
    await expect(page.get_by_role("link", name="Alice Mentor & Mentee 007")).to_be_visible()
    await shot(page, "18-operator-pairs-search")
    await page.context.close()


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[PortalRig]:
    async with running_portal(time_env, settings) as running:
        yield running


async def test_a_held_relationship_says_so_to_its_operator_and_its_participants(
    rig: PortalRig,
) -> None:
    pair = await rig.start(request())
    client = rig.life.env.client
    assert (await act(client, pair.id, goals())).recorded
    remove_latest_row(rig.ledger, pair.id)  # a careless DBA
    assert not (await act(client, pair.id, commitment(actor=MENTOR))).recorded

    async def held() -> bool:
        return (await status(client, pair.id)).ledger_blocked is not None

    await eventually(held, "the relationship to be held")

    async def operator_told() -> bool:  # and no delivery left running on the shared server
        return any(m["kind"] == "ledger_blocked" for m in pair.outbox())

    await eventually(operator_told, "the operator's ledger_blocked notice")

    operator = rig.links.sign_in_url(OperatorClaim(operator_id="olga", email="olga@example.org"))
    async with httpx.AsyncClient(base_url=rig.url, follow_redirects=True, timeout=30) as web:
        await web.get(operator)
        page = html.unescape((await web.get(f"/ops/r/{pair.id}")).text)
        dashboard = html.unescape((await web.get("/ops")).text)
    assert "Held: the ledger refuses this relationship's events" in page
    assert f"mentorflow repair {pair.id}" in page
    assert "Needs an operator" in dashboard and f"mentorflow repair {pair.id}" in dashboard

    mentee = rig.link_in(pair, "welcome", "mentee")
    async with httpx.AsyncClient(base_url=rig.url, follow_redirects=True, timeout=30) as web:
        me = (await web.get(mentee)).text
    assert "need repair by an operator, who has been told" in me
    assert 'action="/me/' not in me, "no form that the relationship would refuse"


async def test_an_operator_sends_a_participant_a_new_link_that_only_they_receive(
    rig: PortalRig,
) -> None:
    pair = await rig.start(request())
    olga = rig.links.sign_in_url(OperatorClaim(operator_id="olga", email="olga@example.org"))
    async with httpx.AsyncClient(base_url=rig.url, follow_redirects=True, timeout=30) as web:
        await web.get(olga)
        page = (await web.get(f"/ops/r/{pair.id}")).text
        token = page.split('name="csrf" value="')[1].split('"')[0]
        sent = await web.post(f"/ops/r/{pair.id}/link/mentee", data={"csrf": token})
        forged = await web.post(f"/ops/r/{pair.id}/link/operator", data={"csrf": token})
    said = html.unescape(sent.text)
    assert "A new personal link went to Bob Mentee (b…@example.org)." in said
    assert forged.status_code == 403, "links are for the mentor and the mentee only"
    [message] = [m for m in pair.outbox() if m["kind"] == "personal_link"]
    assert (message["recipient_role"], message["recipient_email"]) == ("mentee", "bob@example.org")
    fresh = rig.link_in(pair, "personal_link", "mentee")
    assert fresh.rsplit("/", 1)[1] not in said, "the operator never sees the link"
    async with httpx.AsyncClient(base_url=rig.url, follow_redirects=True, timeout=30) as bob:
        assert "Your goals" in (await bob.get(fresh)).text

    oscar_runs_sales(rig.ledger.engine)
    oscar = rig.links.sign_in_url(OperatorClaim(operator_id="oscar", email="oscar@example.org"))
    async with httpx.AsyncClient(base_url=rig.url, follow_redirects=True, timeout=30) as web:
        await web.get(oscar)
        token = (await web.get("/ops/sign-in")).text.split('name="csrf" value="')[1][:32]
        refused = await web.post(f"/ops/r/{pair.id}/link/mentee", data={"csrf": token})
    assert refused.status_code == 403 and "not on the roster" in refused.text
    assert len([m for m in pair.outbox() if m["kind"] == "personal_link"]) == 1
