"""Who a personal link lets in, and as whom: over real HTTP to the portal on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from client.relationships import act
from mentorship import commands as c
from mentorship import events as ev
from mentorship.participants import Participant, Role
from tests.factories import ALICE, MENTEE, MENTOR, commitment, goals, request, terms
from tests.lifecycle import Pair
from tests.portal_rig import PortalRig, oscar_runs_sales, running_portal
from web.app import RateLimit
from web.links import Claim, LinkKeys, Links, OperatorClaim
from worker.settings import Settings

DANA = Participant(id="dana", name="Dana Mentee", email="dana@example.org")


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[PortalRig]:
    async with running_portal(time_env, settings) as running:
        yield running


def web(rig: PortalRig) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=rig.url, follow_redirects=False, timeout=30)


@asynccontextmanager
async def signed_in(rig: PortalRig, link: str) -> AsyncIterator[httpx.AsyncClient]:
    async with web(rig) as client:
        opened = await client.get(link)
        assert opened.status_code == 303 and opened.headers["location"] == "/me"
        yield client


async def csrf(client: httpx.AsyncClient) -> str:
    page = (await client.get("/me")).text
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def types(pair: Pair) -> list[str]:
    return [type(r.event).__name__ for r in pair.ledger()]


GOALS = {
    "objectives": "Lead a design review end to end",
    "proposed_cadence": "biweekly",
    "proposed_format": "virtual",
}


async def test_a_tampered_link_is_refused_and_changes_nothing(rig: PortalRig) -> None:
    pair = await rig.start(request())
    link = await rig.wait_for(pair, "welcome", "mentee")
    before = types(pair)
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    async with web(rig) as client:
        refused = await client.get(tampered)
        assert refused.status_code == 403
        assert "not valid" in refused.text and "Nothing was changed" in refused.text
        assert (await client.get("/me")).status_code == 401, "no session was opened"
    assert types(pair) == before


async def test_an_expired_link_sends_a_new_one_to_its_owner_never_to_its_holder(
    rig: PortalRig,
) -> None:
    pair = await rig.start(request())
    state = (await pair.status()).state
    month_ago = datetime.now(UTC) - timedelta(days=31)
    old = Links(rig.links.keys, rig.url, rig.links.lifetime, clock=lambda: month_ago)
    claim = Claim(relationship_id=pair.id, person_id=state.party(Role.MENTEE).id, role=Role.MENTEE)
    async with web(rig) as holder:
        refused = await holder.get(old.url(claim))
        assert refused.status_code == 403
        assert "this link has expired" in refused.text and "Send me a new link" in refused.text
        assert (await holder.get("/me")).status_code == 401, "an expired link opens nothing"
        token = refused.text.split('name="csrf" value="')[1].split('"')[0]
        sent = await holder.post("/relink", data={"csrf": token})
        again = await holder.post("/relink", data={"csrf": token})
    assert sent.status_code == 200 and "We sent it to b…@example.org" in sent.text
    assert again.status_code == 403, "one new link per expired link opened"
    [message] = [m for m in pair.outbox() if m["kind"] == "personal_link"]
    assert (message["recipient_role"], message["recipient_email"]) == ("mentee", "bob@example.org")
    fresh = rig.link_in(pair, "personal_link", "mentee")
    assert fresh.rsplit("/", 1)[1] not in sent.text, "the holder never sees the new link"
    async with signed_in(rig, fresh) as owner:
        assert "Your goals" in (await owner.get("/me")).text


async def test_a_tampered_link_offers_no_new_one(rig: PortalRig) -> None:
    pair = await rig.start(request())
    link = await rig.wait_for(pair, "welcome", "mentee")
    async with web(rig) as client:
        refused = await client.get(link[:-3] + "xyz")
        relinked = await client.post("/relink", data={"csrf": "x"})
    assert refused.status_code == 403 and "Send me a new link" not in refused.text
    assert relinked.status_code == 403
    assert not [m for m in pair.outbox() if m["kind"] == "personal_link"]


async def test_keys_rotate_an_older_listed_key_opens_a_retired_one_does_not(
    rig: PortalRig,
) -> None:
    pair = await rig.start(request())
    mentee = (await pair.status()).state.party(Role.MENTEE)
    claim = Claim(relationship_id=pair.id, person_id=mentee.id, role=Role.MENTEE)
    older = Links(LinkKeys(keys=rig.links.keys.keys, active="test-2025"), rig.url)
    retired = Links(LinkKeys.parse("old-2024:" + "c" * 48), rig.url)
    async with web(rig) as client:
        assert (await client.get(older.url(claim))).status_code == 303
        refused = await client.get(retired.url(claim))
    assert refused.status_code == 403 and "no longer in use" in refused.text


async def test_a_participant_cannot_act_as_the_other_party(rig: PortalRig) -> None:
    pair = await rig.start(request())
    async with signed_in(rig, await rig.wait_for(pair, "welcome", "mentee")) as client:
        token = await csrf(client)
        commitment = {
            "csrf": token,
            "capacity_per_month": "4",
            "availability": "any time",
            "expertise": "design",
            "communication": "email",
            "actor": "mentor:alice",  # ignored: the actor comes from the session
        }
        refused = await client.post("/me/commitment", data=commitment)
    assert refused.status_code == 400
    assert "Not recorded:" in refused.text and "mentor" in refused.text
    assert "CommitmentSubmitted" not in types(pair), "the mentee could not sign for the mentor"


async def test_a_link_cannot_reach_another_relationship(rig: PortalRig) -> None:
    ours = await rig.start(request())
    theirs = await rig.start(request(mentee=DANA, mentor=ALICE))
    async with signed_in(rig, await rig.wait_for(ours, "welcome", "mentee")) as client:
        token = await csrf(client)
        sent = await client.post(
            "/me/goals", data={**GOALS, "csrf": token, "relationship_id": theirs.id}
        )
        assert sent.status_code == 303
        page = (await client.get("/me")).text
    assert "GoalsSubmitted" in types(ours)
    assert "GoalsSubmitted" not in types(theirs), "a form field cannot point elsewhere"
    assert DANA.name not in page
    # A link naming the other relationship for our mentee is refused even when validly signed.
    forged = Claim(relationship_id=theirs.id, person_id="bob", role=Role.MENTEE)
    async with web(rig) as other:
        await other.get(rig.links.url(forged))
        refused = await other.get("/me")
    assert refused.status_code == 403 and "not for this relationship" in refused.text


async def test_a_form_without_its_csrf_token_is_refused(rig: PortalRig) -> None:
    pair = await rig.start(request())
    async with signed_in(rig, await rig.wait_for(pair, "welcome", "mentee")) as client:
        refused = await client.post("/me/goals", data={**GOALS, "csrf": "forged"})
    assert refused.status_code == 403 and "expired" in refused.text
    assert "GoalsSubmitted" not in types(pair)


async def test_the_token_never_reaches_the_logs_and_pages_carry_security_headers(
    rig: PortalRig,
) -> None:
    pair = await rig.start(request())
    link = await rig.wait_for(pair, "welcome", "mentee")
    token = link.rsplit("/", 1)[1]
    sign_in = rig.links.sign_in_url(OperatorClaim(operator_id="olga", email="olga@example.org"))
    with structlog.testing.capture_logs() as logs:
        async with signed_in(rig, link) as client:
            page = await client.get("/me")
        async with web(rig) as operator:
            assert (await operator.get(sign_in)).headers["location"] == "/ops"
    assert token not in repr(logs) and sign_in.rsplit("/", 1)[1] not in repr(logs)
    assert any(e.get("path") == "/p/…" for e in logs)
    assert any(e.get("path") == "/ops/s/…" for e in logs)
    headers = page.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    async with web(rig) as fresh:
        cookie = (await fresh.get(link)).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


async def test_a_refused_goal_shows_the_problem_next_to_its_field(rig: PortalRig) -> None:
    pair = await rig.start(request())
    async with signed_in(rig, await rig.wait_for(pair, "welcome", "mentee")) as client:
        token = await csrf(client)
        refused = await client.post("/me/goals", data={**GOALS, "objectives": "", "csrf": token})
    assert refused.status_code == 400
    assert 'id="goals-objectives-problem"' in refused.text
    assert "GoalsSubmitted" not in types(pair)
    assert not [r for r in pair.ledger() if isinstance(r.event, ev.GoalsSubmitted)]


async def test_a_participant_confirms_with_the_meeting_link_and_a_bad_link_is_refused(
    rig: PortalRig,
) -> None:
    pair = await rig.start(request())
    await act(rig.life.env.client, pair.id, goals())
    await act(rig.life.env.client, pair.id, commitment())
    async with signed_in(rig, await rig.wait_for(pair, "welcome", "mentee")) as client:
        token = await csrf(client)
        bad = {"link": "meet.example.org/abc", "place": "", "csrf": token}
        refused = await client.post("/me/confirm", data=bad)
        assert refused.status_code == 400
        assert 'id="confirm-link-problem"' in refused.text
        assert 'value="meet.example.org/abc"' in refused.text  # what was typed comes back
        assert "AgreementConfirmed" not in types(pair)
        good = {"link": "https://meet.example.org/abc", "place": "Room 4", "csrf": token}
        confirmed = await client.post("/me/confirm", data=good)
    assert confirmed.status_code == 303, confirmed.text
    (recorded,) = [r for r in pair.ledger() if isinstance(r.event, ev.AgreementConfirmed)]
    assert recorded.event.terms.link == "https://meet.example.org/abc"
    assert recorded.event.terms.place == "Room 4"
    proposed = (await pair.status()).state.pending_terms
    assert proposed is not None and proposed.cadence == recorded.event.terms.cadence


def test_link_opening_is_rate_limited_per_address() -> None:
    now = [0.0]

    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/p/{token}", ok)],
        middleware=[Middleware(RateLimit, prefix="/p/", per_minute=3, clock=lambda: now[0])],
    )
    with TestClient(app) as client:
        assert [client.get("/p/x").status_code for _ in range(4)] == [200, 200, 200, 429]
        now[0] += 61
        assert client.get("/p/x").status_code == 200


async def test_an_operator_not_on_the_programs_roster_is_refused(rig: PortalRig) -> None:
    pair = await rig.start(request())
    oscar_runs_sales(rig.ledger.engine)
    oscar = rig.links.sign_in_url(OperatorClaim(operator_id="oscar", email="oscar@example.org"))
    async with web(rig) as client:
        assert (await client.get(oscar)).headers["location"] == "/ops"
        dashboard = (await client.get("/ops")).text
        assert "sales-2026" in dashboard and pair.id not in dashboard
        page = await client.get(f"/ops/r/{pair.id}")
        assert page.status_code == 403 and "not on the roster of program" in page.text
        assert "eng-2026" in page.text
        token = (await client.get("/ops/sign-in")).text.split('name="csrf" value="')[1][:32]
        refused = await client.post(f"/ops/r/{pair.id}/pause", data={"reason": "x", "csrf": token})
    assert refused.status_code == 403
    assert "Paused" not in types(pair)


async def test_sign_in_tells_nobody_who_is_on_a_roster(rig: PortalRig) -> None:
    await rig.start(request())
    async with web(rig) as client:
        form = (await client.get("/ops/sign-in")).text
        token = form.split('name="csrf" value="')[1].split('"')[0]
        stranger = await client.post("/ops/sign-in", data={"email": "mallory@x.org", "csrf": token})
        known = await client.post("/ops/sign-in", data={"email": "olga@example.org", "csrf": token})
    said = "If that address is on a program's roster, a sign-in link is on its way"
    assert said in stranger.text and said in known.text
    assert await rig.outbox_link("operator_sign_in", "mallory@x.org") is None
    assert await rig.outbox_link("operator_sign_in", "olga@example.org") is not None


async def test_a_participant_link_does_not_sign_in_an_operator(rig: PortalRig) -> None:
    pair = await rig.start(request())
    token = (await rig.wait_for(pair, "welcome", "mentee")).rsplit("/", 1)[1]
    async with web(rig) as client:
        refused = await client.get(f"/ops/s/{token}")
        assert refused.status_code == 403
        assert (await client.get("/ops")).headers["location"] == "/ops/sign-in"


async def test_a_participant_answers_a_review_from_their_page(rig: PortalRig) -> None:
    pair = await rig.start(request())
    client = rig.life.env.client
    first = (await rig.life.now() + timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
    for command in (
        goals(),
        commitment(),
        c.ConfirmAgreement(actor=MENTEE, terms=terms(first)),
        c.ConfirmAgreement(actor=MENTOR, terms=terms(first)),
        c.RequestReview(actor=MENTOR, reason="Checking the cadence fits"),
    ):
        await act(client, pair.id, command)
    async with signed_in(rig, await rig.wait_for(pair, "welcome", "mentee")) as web_client:
        page = (await web_client.get("/me")).text
        assert "Review the relationship" in page and "Progress on: Lead a design review" in page
        token = await csrf(web_client)
        bad = await web_client.post(
            "/me/review", data={"csrf": token, "review_number": "1", "decision": "continue"}
        )
        assert bad.status_code == 400 and 'id="review-effectiveness-problem"' in bad.text
        sent = await web_client.post(
            "/me/review",
            data={
                "csrf": token,
                "review_number": "1",
                "effectiveness": "4",
                "progress_o1": "3",
                "decision": "continue",
                "comment": "Going well",
            },
        )
        assert sent.status_code == 303
    [answer] = [r for r in pair.ledger() if isinstance(r.event, ev.ReviewSubmitted)]
    assert answer.actor.role is Role.MENTEE and answer.event.effectiveness == 4
