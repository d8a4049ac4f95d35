"""Roster import in the portal, over real HTTP: every bad row is shown as `line: field:
problem` and nothing starts; a clean roster is previewed, then started, and is safe to
import again."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, expect
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from client.access import admit_starter
from client.relationships import status
from tests.factories import OPS
from tests.portal_rig import PortalRig, oscar_runs_sales, person, running_portal, shot
from web.links import OperatorClaim
from worker.settings import Settings

HEADER = (
    "kind,mentor_id,mentor_name,mentor_email,mentee_id,mentee_name,mentee_email,relationship_id"
)


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[PortalRig]:
    async with running_portal(time_env, settings) as running:
        admit_starter(running.ledger.engine, "eng-2026", OPS, datetime.now(UTC))
        yield running


@pytest.fixture
async def olga(rig: PortalRig) -> AsyncIterator[httpx.AsyncClient]:
    link = rig.links.sign_in_url(OperatorClaim(operator_id=OPS.id, email=OPS.email))
    async with httpx.AsyncClient(base_url=rig.url, timeout=60) as client:
        assert (await client.get(link)).headers["location"] == "/ops"
        yield client


def rid(rig: PortalRig, n: int) -> str:
    """Ids of this test's own: the time-skipping server is shared by the whole session."""
    return f"imp-{n}.{rig.life.settings.task_queue}"


def row(rig: PortalRig, n: int, mentee_email: str | None = None, kind: str = "traditional") -> str:
    email = mentee_email or f"mentee{n}@example.org"
    return (
        f"{kind},mentor{n},Mentor {n},mentor{n}@example.org,"
        f"mentee{n},Mentee {n},{email},{rid(rig, n)}"
    )


async def token(client: httpx.AsyncClient) -> str:
    page = (await client.get("/ops/import")).text
    return page.split('name="csrf" value="')[1].split('"')[0]


async def exists(rig: PortalRig, relationship_id: str) -> bool:
    """Asked raw: the time-skipping server's search attributes do not parse in describe()."""
    client = rig.life.env.client
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=relationship_id)
    )
    try:
        await client.workflow_service.describe_workflow_execution(request)
    except RPCError:
        return False
    return True


async def test_every_bad_row_is_shown_with_its_line_and_nothing_starts(
    rig: PortalRig, olga: httpx.AsyncClient
) -> None:
    roster = "\n".join(
        [
            HEADER,
            row(rig, 1),
            row(rig, 2, mentee_email="not-an-address"),
            row(rig, 3, kind="mentoring"),
            row(rig, 1),
        ]
    )
    for step in ("check", "start"):  # a forged "start" is checked again and refused too
        sent = await olga.post(
            "/ops/import",
            data={
                "csrf": await token(olga),
                "program": "eng-2026",
                "text": roster,
                "format": "csv",
                "step": step,
            },
        )
        assert sent.status_code == 400
        assert "3 of 4 rows need fixing; nothing was started" in sent.text
        assert "roster.csv:3: mentee_email:" in sent.text
        assert "roster.csv:4: kind:" in sent.text
        assert "roster.csv:5: relationship_id:" in sent.text and "repeats line 2" in sent.text
        assert 'id="start-pairs"' not in sent.text
    for n in (1, 2, 3):
        assert not await exists(rig, rid(rig, n))
    assert rig.ledger.last_seq(rid(rig, 1)) == 0


async def test_rows_of_other_programs_and_operators_are_bad_rows(
    rig: PortalRig, olga: httpx.AsyncClient
) -> None:
    oscar_runs_sales(rig.ledger.engine)
    roster = "\n".join(
        [
            "program,operator_id," + HEADER,
            "sales-2026,," + row(rig, 1),
            "eng-2026,oscar," + row(rig, 2),
            "eng-2026,," + row(rig, 3),
        ]
    )
    sent = await olga.post(
        "/ops/import",
        data={"csrf": await token(olga), "program": "eng-2026", "text": roster, "format": "csv"},
    )
    assert sent.status_code == 400
    said = html.unescape(sent.text)
    assert (
        "roster.csv:2: program: operator 'olga' is not on the roster of program 'sales-2026'"
        in said
    )
    assert (
        "roster.csv:3: operator_id: operator 'oscar' is not on the roster of program 'eng-2026'"
        in said
    )
    assert "2 of 3 rows need fixing" in sent.text
    assert not await exists(rig, rid(rig, 3))


async def test_a_clean_roster_is_previewed_then_started_and_safe_to_import_again(
    rig: PortalRig, olga: httpx.AsyncClient
) -> None:
    roster = "\n".join([HEADER, row(rig, 1), row(rig, 2)])
    fields = {"csrf": await token(olga), "program": "eng-2026", "format": "csv"}
    preview = await olga.post(
        "/ops/import",
        data=fields,
        files={"file": ("cohort.csv", roster.encode(), "text/csv")},
    )
    assert preview.status_code == 200, preview.text
    assert "All 2 rows are valid; nothing has started yet" in preview.text
    assert not await exists(rig, rid(rig, 1))

    started = await olga.post("/ops/import", data={**fields, "text": roster, "step": "start"})
    rig.life.started.extend([rid(rig, 1), rid(rig, 2)])  # so the rig ends them
    assert started.status_code == 200
    assert "Started 2 of 2 pairs" in started.text
    assert await exists(rig, rid(rig, 1)) and await exists(rig, rid(rig, 2))
    welcomed = {m["recipient_email"] for m in await _welcomes(rig, 4)}
    assert {"mentor1@example.org", "mentee2@example.org"} <= welcomed
    # The signed-in operator is the operator of rows that name none.
    view = await status(rig.life.env.client, rid(rig, 1))
    assert view.state.operator.id == OPS.id

    again = await olga.post("/ops/import", data={**fields, "text": roster, "step": "start"})
    assert "Started 0 of 2 pairs" in again.text and again.text.count("already running") == 2


async def test_a_whole_roster_problem_is_shown_beside_its_field(
    rig: PortalRig, olga: httpx.AsyncClient
) -> None:
    fields = {"csrf": await token(olga), "program": "eng-2026", "format": "csv"}
    empty = await olga.post("/ops/import", data={**fields, "text": "  "})
    assert empty.status_code == 400 and "text: empty; paste the roster here" in empty.text
    wrong = await olga.post(
        "/ops/import", data=fields, files={"file": ("cohort.xlsx", b"PK..", "application/zip")}
    )
    assert wrong.status_code == 400 and "unknown roster format '.xlsx'" in html.unescape(wrong.text)
    other = await olga.post("/ops/import", data={**fields, "program": "sales-2026", "text": "x"})
    assert other.status_code == 400 and "program: 'sales-2026' is not one you run" in html.unescape(
        other.text
    )
    huge = await olga.post("/ops/import", data={**fields, "text": "x" * 2_200_000})
    assert huge.status_code == 400 and "text: larger than 2 MB; split the roster" in huge.text
    async with httpx.AsyncClient(base_url=rig.url) as stranger:
        assert (await stranger.get("/ops/import")).headers["location"] == "/ops/sign-in"


async def _welcomes(rig: PortalRig, at_least: int) -> list[dict[str, str]]:
    for _ in range(300):
        found = [m for m in rig.life.outbox() if m["kind"] == "welcome"]
        if len(found) >= at_least:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(found)} welcomes")


async def test_an_operator_imports_a_roster_in_the_browser(
    browser: Browser, rig: PortalRig
) -> None:
    page = await person(browser)
    await page.set_viewport_size({"width": 1000, "height": 900})
    await page.goto(rig.links.sign_in_url(OperatorClaim(operator_id=OPS.id, email=OPS.email)))
    await page.get_by_role("link", name="Import a roster").click()
    bad = "\n".join([HEADER, row(rig, 1), row(rig, 2, mentee_email="nobody")])
    await page.get_by_label("… or paste it").fill(bad)
    await page.get_by_role("button", name="Check the roster").click()
    await expect(page.locator("#problems")).to_contain_text("roster.csv:3: mentee_email:")
    await shot(page, "15-operator-import-problems")
    assert not await exists(rig, rid(rig, 1))

    await page.get_by_label("… or paste it").fill("\n".join([HEADER, row(rig, 1), row(rig, 2)]))
    await page.get_by_role("button", name="Check the roster").click()
    await expect(page.locator("#preview")).to_contain_text("All 2 rows are valid")
    await shot(page, "16-operator-import-preview")
    await page.get_by_role("button", name="Start 2 pairs").click()
    rig.life.started.extend([rid(rig, 1), rid(rig, 2)])  # so the rig ends them
    await expect(page.locator("#import-result")).to_contain_text("Started 2 of 2 pairs")
    await shot(page, "17-operator-import-started")
    await _welcomes(rig, 4)  # deliveries finish before the test does
