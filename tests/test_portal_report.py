"""The program report in real Chromium: four charts drawn by the vendored Chart.js under the
portal's CSP, the same numbers in tables without JavaScript, and a CSV; only the program's
operators see it. The ledger is written from pure-domain journeys with explicit timestamps,
and the portal's clock is fixed, so the periods are the same on every run."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, expect

from client.access import admit_starter
from ledger.outcomes import program_series
from tests.audit_journeys import eventful, never_started, write
from tests.factories import OPS, T0
from tests.portal_rig import LedgerPortal, ledger_portal, oscar_runs_sales, person, shot
from worker.settings import Settings

AS_OF = T0 + timedelta(days=120)


@pytest.fixture
async def reported(settings: Settings) -> AsyncIterator[LedgerPortal]:
    """A portal over a ledger holding three relationships of eng-2026 (no engine needed)."""

    async def fixed_clock() -> datetime:
        return AS_OF

    async with ledger_portal(settings, fixed_clock) as running:
        for journey in (eventful("rep-1"), eventful("rep-2"), never_started("rep-3")):
            write(running.ledger, journey.history)
        admit_starter(running.ledger.engine, "eng-2026", OPS, T0)
        yield running


async def test_the_report_draws_four_charts_from_the_vendored_library(
    browser: Browser, reported: LedgerPortal
) -> None:
    page = await person(browser)
    await page.set_viewport_size({"width": 1100, "height": 900})
    problems: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda err: problems.append(str(err)))
    await page.goto(reported.sign_in_url())
    await page.get_by_role("link", name="Program report").click()
    await expect(page.get_by_role("heading", name="eng-2026", exact=True)).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("data-charts", "drawn")

    assert await page.evaluate("Chart.version") == "4.6.1"
    for chart in ("meetings", "loops", "risk", "outcomes"):
        painted = await page.evaluate(
            """id => {
                const canvas = document.getElementById(id);
                const chart = Chart.getChart(canvas);
                const pixels = canvas.getContext("2d")
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) inked++; }
                return {chart: Boolean(chart), inked, points: chart.data.datasets[0].data};
            }""",
            f"chart-{chart}",
        )
        assert painted["chart"] and painted["inked"] > 500, chart
    series = program_series(reported.ledger.engine, "eng-2026", AS_OF)
    drawn = await page.evaluate("Chart.getChart('chart-meetings').data.datasets[1].data")
    assert drawn == series.meetings_missed and sum(drawn) > 0
    assert problems == [], problems  # no CSP refusal, no script error
    await shot(page, "20-program-report")


async def test_without_javascript_the_numbers_are_tables_and_a_csv(
    browser: Browser, reported: LedgerPortal
) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(reported.sign_in_url())
    await page.goto(f"{reported.url}/ops/report/eng-2026")
    series = program_series(reported.ledger.engine, "eng-2026", AS_OF)
    assert series.period == "week"
    rows = page.locator("#by-period tbody tr")
    await expect(rows).to_have_count(len(series.starts))
    busiest = max(range(len(series.starts)), key=lambda i: series.meetings_held[i])
    cells = await rows.nth(busiest).locator("td").all_inner_texts()
    assert cells == [
        series.starts[busiest].isoformat(),
        str(series.meetings_held[busiest]),
        str(series.meetings_missed[busiest]),
        str(series.loops_closed[busiest]),
        str(series.at_risk[busiest]),
    ]
    outcomes = {}
    for row in await page.locator("#outcomes tbody tr").all():
        name, count = await row.locator("td").all_inner_texts()
        outcomes[name] = count
    assert outcomes["not started"] == "1" and outcomes["concluded early"] == "2"
    assert outcomes["completed"] == "0"
    await shot(page, "21-program-report-no-javascript")
    await context.close()

    async with httpx.AsyncClient(base_url=reported.url) as client:
        await client.get(reported.sign_in_url())
        got = await client.get("/ops/report/eng-2026/report.csv")
    lines = list(csv.reader(io.StringIO(got.text)))
    assert lines[0] == ["week", "meetings_held", "meetings_missed", "loops_closed", "at_risk"]
    assert [int(r[1]) for r in lines[1:]] == series.meetings_held


async def test_only_the_programs_operators_see_its_report(reported: LedgerPortal) -> None:
    oscar_runs_sales(reported.ledger.engine)
    async with httpx.AsyncClient(base_url=reported.url) as client:
        assert (await client.get("/ops/report/eng-2026")).headers["location"] == "/ops/sign-in"
        await client.get(reported.sign_in_url("oscar", "oscar@example.org"))
        for path in ("/ops/report/eng-2026", "/ops/report/eng-2026/report.csv"):
            refused = await client.get(path)
            assert refused.status_code == 403 and "not on the roster" in refused.text
