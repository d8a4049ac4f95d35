"""Operators sign in through a real OpenID Connect provider on loopback (oidc-provider-mock,
authlib's server side): the provider vouches for an email, the roster decides. Every way the
sign-in can go wrong ends on a page that says why, with nobody signed in."""

from __future__ import annotations

import html
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread
from playwright.async_api import Browser, expect
from pydantic import ValidationError

from client.access import admit_starter
from tests.factories import OPS
from tests.portal_rig import LedgerPortal, ledger_portal, person, shot
from web.oidc import OidcProvider
from worker.settings import Settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    with run_server_in_thread() as server:
        url = f"http://127.0.0.1:{server.server_port}"
        users = {
            "olga-sub": {"email": "Olga@Example.org", "email_verified": True, "name": "Olga"},
            "mallory-sub": {"email": "mallory@example.org", "email_verified": True},
            "unverified-sub": {"email": "olga@example.org", "email_verified": False},
            "anonymous-sub": {"name": "No Email"},
        }
        for sub, claims in users.items():
            httpx.put(f"{url}/users/{sub}", json=claims).raise_for_status()
        yield url


def provider(issuer: str, only: bool = False) -> OidcProvider:
    return OidcProvider(
        name="Staff SSO", issuer=issuer, client_id="mentorflow", client_secret="s3cret", only=only
    )


async def fixed_clock() -> datetime:
    return NOW


@pytest.fixture
async def portal(settings: Settings, provider_url: str) -> AsyncIterator[LedgerPortal]:
    async with ledger_portal(settings, fixed_clock, oidc=provider(provider_url)) as running:
        admit_starter(running.ledger.engine, "eng-2026", OPS, NOW)
        yield running


async def through_provider(client: httpx.AsyncClient, sub: str) -> httpx.Response:
    """Start at the portal, answer the provider's form as `sub`, come back to the callback."""
    started = await client.get("/ops/oidc/start")
    assert started.status_code in (302, 303, 307), started.text
    authorize = started.headers["location"]
    answered = await client.post(authorize, data={"sub": sub})
    assert answered.status_code in (302, 303), answered.text
    back = answered.headers["location"]
    assert back.startswith(f"{client.base_url}/ops/oidc/callback?"), back
    return await client.get(back)


async def test_an_operator_on_a_roster_signs_in_through_the_provider(
    portal: LedgerPortal,
) -> None:
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as client:
        page = await client.get("/ops/sign-in")
        assert "Sign in with Staff SSO" in page.text and "Email me a sign-in link" in page.text
        landed = await through_provider(client, "olga-sub")
        assert landed.status_code == 303 and landed.headers["location"] == "/ops"
        dashboard = await client.get("/ops")
    assert dashboard.status_code == 200
    assert "Signed in as olga (olga@example.org)" in dashboard.text
    assert "eng-2026" in dashboard.text


@pytest.mark.parametrize(
    ("sub", "said"),
    [
        ("mallory-sub", "mallory@example.org is not on any program's roster"),
        ("unverified-sub", "Staff SSO has not verified olga@example.org"),
        ("anonymous-sub", "did not say who you are by email"),
    ],
)
async def test_the_provider_vouching_is_not_enough_without_the_roster(
    portal: LedgerPortal, sub: str, said: str
) -> None:
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as client:
        refused = await through_provider(client, sub)
        assert refused.status_code == 403 and said in html.unescape(refused.text)
        assert (await client.get("/ops")).headers["location"] == "/ops/sign-in"


async def test_a_forged_or_denied_callback_signs_in_nobody(portal: LedgerPortal) -> None:
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as client:
        started = await client.get("/ops/oidc/start")
        answered = await client.post(started.headers["location"], data={"sub": "olga-sub"})
        code = httpx.URL(answered.headers["location"]).params["code"]
        forged = await client.get(f"/ops/oidc/callback?code={code}&state=not-the-state")
        assert forged.status_code == 403 and "The sign-in did not complete" in forged.text
        assert (await client.get("/ops")).headers["location"] == "/ops/sign-in"

        started = await client.get("/ops/oidc/start")
        denied = await client.post(started.headers["location"], data={"action": "deny"})
        back = await client.get(denied.headers["location"])
        assert back.status_code == 403 and "access_denied" in back.text
        assert (await client.get("/ops")).headers["location"] == "/ops/sign-in"


async def test_a_provider_that_does_not_answer_gets_a_page_not_a_hang(
    settings: Settings,
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens here now
    async with (
        ledger_portal(settings, fixed_clock, oidc=provider(f"http://127.0.0.1:{port}")) as running,
        httpx.AsyncClient(base_url=running.url, timeout=30) as client,
    ):
        page = await client.get("/ops/oidc/start")
    assert page.status_code == 503
    assert f"Staff SSO (http://127.0.0.1:{port}) did not answer" in page.text


async def test_oidc_only_offers_no_emailed_links(settings: Settings, provider_url: str) -> None:
    async with ledger_portal(
        settings, fixed_clock, oidc=provider(provider_url, only=True), by_email=False
    ) as running:
        admit_starter(running.ledger.engine, "eng-2026", OPS, NOW)
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            page = await client.get("/ops/sign-in")
            assert "Sign in with Staff SSO" in page.text
            assert "Email me a sign-in link" not in page.text
            asked = await client.post("/ops/sign-in", data={"email": OPS.email})
    assert asked.status_code == 403 and "Sign in with the button above" in asked.text
    assert running.portal.send_sign_in is None  # there is nothing that could send one


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (
            {"oidc_issuer": "https://login.example.org"},
            "MENTORFLOW_OIDC_CLIENT_ID, MENTORFLOW_OIDC_CLIENT_SECRET: missing",
        ),
        (
            {"oidc_issuer": "login.example.org", "oidc_client_id": "x", "oidc_client_secret": "y"},
            "MENTORFLOW_OIDC_ISSUER: 'login.example.org' is not an http(s) URL",
        ),
        ({"oidc_only": True}, "MENTORFLOW_OIDC_ONLY: set, but no OpenID Connect provider is"),
    ],
)
def test_a_half_configured_provider_is_refused_at_startup_naming_the_setting(
    values: dict[str, object], said: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    assert said in str(caught.value)


async def test_an_operator_signs_in_through_the_provider_in_the_browser(
    browser: Browser, portal: LedgerPortal
) -> None:
    page = await person(browser)
    await page.goto(f"{portal.url}/ops/sign-in")
    await shot(page, "14-operator-sign-in-with-oidc")
    await page.get_by_role("link", name="Sign in with Staff SSO").click()
    await page.locator("input[name=sub]").fill("olga-sub")
    await page.get_by_role("button", name="Authorize").click()
    await expect(page.get_by_role("heading", name="Your programs")).to_be_visible()
    assert page.url == f"{portal.url}/ops"
    await expect(page.get_by_text("Signed in as olga")).to_be_visible()
