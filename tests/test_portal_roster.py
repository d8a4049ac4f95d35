"""A program's operators in the portal: an operator adds one (a bad field named next to it),
takes one off (never the last), and one taken off is turned away at once, signed in or not."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect

from client.access import admit_starter
from ledger import rosters
from tests.audit_journeys import never_started, write
from tests.factories import OPS, T0
from tests.portal_rig import LedgerPortal, ledger_portal, person, shot
from worker.settings import Settings


@pytest.fixture
async def program(settings: Settings) -> AsyncIterator[LedgerPortal]:
    async def fixed_clock() -> datetime:
        return T0 + timedelta(days=3)

    async with ledger_portal(settings, fixed_clock) as running:
        write(running.ledger, never_started("r-1").history)
        admit_starter(running.ledger.engine, "eng-2026", OPS, T0)
        yield running


def _csrf(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


async def test_an_operator_adds_one_who_then_signs_in_and_is_removed(
    program: LedgerPortal,
) -> None:
    async with (
        httpx.AsyncClient(base_url=program.url) as olga,
        httpx.AsyncClient(base_url=program.url) as oscar,
    ):
        await olga.get(program.sign_in_url())
        token = _csrf((await olga.get("/ops/roster/eng-2026")).text)
        bad = await olga.post(
            "/ops/roster/eng-2026/add",
            data={"csrf": token, "id": "oscar", "name": "Oscar", "email": "oscar-at-example"},
        )
        assert bad.status_code == 400
        said = html.unescape(bad.text)
        assert "email: 'oscar-at-example' is not an email address" in said
        assert 'value="oscar-at-example"' in said, "what was typed comes back"
        assert [e.operator_id for e in rosters.operators(program.ledger.engine, "eng-2026")] == [
            "olga"
        ], "nothing changed"

        added = await olga.post(
            "/ops/roster/eng-2026/add",
            data={"csrf": token, "id": "oscar", "name": "Oscar", "email": "Oscar@Example.org"},
            follow_redirects=True,
        )
        assert "oscar is now an operator of eng-2026" in added.text

        await oscar.get(program.sign_in_url("oscar", "oscar@example.org"))
        assert (await oscar.get("/ops/p/eng-2026")).status_code == 200

        removed = await olga.post(
            "/ops/roster/eng-2026/remove",
            data={"csrf": token, "id": "oscar"},
            follow_redirects=True,
        )
        assert "oscar is no longer an operator of eng-2026" in removed.text
        assert "Oscar (oscar): removed" in removed.text and "by olga" in removed.text

        turned_away = await oscar.get("/ops/p/eng-2026")
        assert turned_away.status_code == 403 and "not on the roster" in turned_away.text
        dashboard = await oscar.get("/ops")
        assert "You are not on any program's roster." in html.unescape(dashboard.text)


async def test_the_last_operator_cannot_be_removed_and_a_stale_form_changes_nothing(
    program: LedgerPortal,
) -> None:
    async with httpx.AsyncClient(base_url=program.url) as olga:
        await olga.get(program.sign_in_url())
        page = (await olga.get("/ops/roster/eng-2026")).text
        assert "the last operator" in page and ">Leave<" not in page, "no button to press"
        token = _csrf(page)
        last = await olga.post("/ops/roster/eng-2026/remove", data={"csrf": token, "id": "olga"})
        stale = await olga.post(
            "/ops/roster/eng-2026/add",
            data={"csrf": "old", "id": "oscar", "name": "Oscar", "email": "oscar@example.org"},
        )
    assert last.status_code == 400
    assert "olga is the last operator of program &#39;eng-2026&#39;" in last.text
    assert stale.status_code == 403 and "This form has expired" in stale.text
    assert [e.operator_id for e in rosters.operators(program.ledger.engine, "eng-2026")] == ["olga"]


async def test_only_the_programs_operators_see_its_roster(program: LedgerPortal) -> None:
    async with httpx.AsyncClient(base_url=program.url) as stranger:
        assert (await stranger.get("/ops/roster/eng-2026")).headers["location"] == "/ops/sign-in"
        await stranger.get(program.sign_in_url("mallory", "mallory@example.org"))
        refused = await stranger.get("/ops/roster/eng-2026")
        token = _csrf((await stranger.get("/ops/sign-in")).text)
        added = await stranger.post(
            "/ops/roster/eng-2026/add",
            data={"csrf": token, "id": "mallory", "name": "M", "email": "mallory@example.org"},
        )
    assert refused.status_code == 403 and added.status_code == 403
    assert not rosters.is_operator(program.ledger.engine, "eng-2026", "mallory")


async def test_an_operator_adds_a_colleague_in_the_browser(
    browser: Browser, program: LedgerPortal
) -> None:
    page = await person(browser)
    await page.goto(program.sign_in_url())
    await page.get_by_role("link", name="Operators").click()
    await page.get_by_label("Id").fill("oscar")
    await page.get_by_label("Name").fill("Oscar Operator")
    await page.get_by_label("Email").fill("oscar@example.org")
    await page.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("status")).to_have_text(
        "oscar is now an operator of eng-2026: they sign in with their address."
    )
    await expect(page.locator("#operators")).to_contain_text("Oscar Operator (oscar)")
    await shot(page, "19-operator-roster")
    await page.context.close()
