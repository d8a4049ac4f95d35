"""10. The portal under a cohort's load: 50 participants at once open their page from their
link and submit a meeting log, on loopback.

The project: the participant page (a status query to the relationship's workflow, the
ledger's timeline, the forms) and the log (a form turned into a command, an update through
Temporal, the redirect). The baseline: the portal's static stylesheet from the same server
under the same concurrency, the floor of any request it answers. Both run in one process with
the production worker on the time-skipping server; figures are p50 and p95 latencies.
"""

from __future__ import annotations

import ssl
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from bench.common import Bench, Report, Row, bounded
from client.relationships import act
from mentorship import commands as c
from mentorship.cadence import Cadence, CadenceKind
from mentorship.participants import Participant, Role
from tests.conftest import installed_binary
from tests.factories import MENTEE, MENTOR, commitment, goals, request, terms
from tests.lifecycle import Pair
from tests.portal_rig import PortalRig, running_portal
from web.links import Claim
from worker.settings import Settings
from worker.temporal import data_converter, register_search_attributes

NAME = "portal"
WEEKLY = Cadence(kind=CadenceKind.WEEKLY)


# One TLS context for every simulated browser: building one per client reads the CA bundle
# (about 20 ms of CPU) on the event loop the portal shares, and the pages would pay for it.
_TLS = ssl.create_default_context()


def participants(quick: bool) -> int:
    return 20 if quick else 50


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _onboarded(
    rig: PortalRig, n: int, advance: Callable[[int], None]
) -> list[tuple[Pair, str]]:
    """Every pair agreed on the same first meeting, and it has just been held."""
    now = await rig.life.now()
    first = (now + timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
    pairs = []
    for i in range(n):
        mentee = Participant(id=f"mentee{i}", name=f"Mentee {i}", email=f"mentee{i}@example.org")
        pair = await rig.start(request(mentee=mentee))
        client = rig.life.env.client
        actor = MENTEE.model_copy(update={"id": mentee.id})
        await act(client, pair.id, goals(actor=actor, cadence=WEEKLY))
        await act(client, pair.id, commitment(actor=MENTOR))
        agreed = terms(first, WEEKLY)
        await act(client, pair.id, c.ConfirmAgreement(actor=actor, terms=agreed))
        await act(client, pair.id, c.ConfirmAgreement(actor=MENTOR, terms=agreed))
        link = rig.links.url(Claim(relationship_id=pair.id, person_id=mentee.id, role=Role.MENTEE))
        pairs.append((pair, link))
        advance(1)
    await rig.life.sleep_until(first + timedelta(hours=2))
    return pairs


async def _timed(work: Callable[[], Awaitable[httpx.Response]], expect: int) -> float:
    started = time.perf_counter()
    response = await work()
    seconds = time.perf_counter() - started
    assert response.status_code == expect, f"{response.status_code}: {response.text[:300]}"
    return seconds


async def _participant(rig: PortalRig, link: str) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=rig.url, timeout=60, verify=_TLS) as web:
        opened = await _timed(lambda: web.get(link, follow_redirects=True), 200)
        page = (await web.get("/me")).text
        token = page.split('name="csrf" value="')[1].split('"')[0]
        number = page.split('name="meeting_number" value="')[1].split('"')[0]
        held = page.split('name="held_at" value="')[1].split('"')[0]
        form = {
            "csrf": token,
            "meeting_number": number,
            "held_at": held,
            "duration_minutes": "45",
            "notes": "Went through the plan",
            "action_items": "Draft the outline",
            "wins": "Ran the review",
        }
        logged = await _timed(lambda: web.post("/me/log", data=form), 303)
    return opened, logged


async def _static(rig: PortalRig, n: int) -> list[float]:
    async with httpx.AsyncClient(base_url=rig.url, timeout=60, verify=_TLS) as web:

        async def one(_: int) -> float:
            return await _timed(lambda: web.get("/static/portal.css"), 200)

        return await bounded(range(n), one, n)


async def run(bench: Bench, count: int | None = None) -> Report:
    n = count or participants(bench.quick)
    report = Report(NAME, f"10. portal: {n} participants at once open their page and log a meeting")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    await register_search_attributes(env.client, "default")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            task_queue=f"bench-portal-{uuid.uuid4().hex[:8]}",
            data_dir=Path(tmp),
            ledger_url=f"sqlite:///{Path(tmp) / 'ledger.db'}",
        )
        # Every participant comes from 127.0.0.1 here: the per-address limit on opening links
        # (30 a minute) would turn most of them away, so it is lifted for the cohort.
        async with env, running_portal(env, settings, link_opens_per_minute=10 * n) as rig:
            with bench.bar("onboarding the cohort", n) as advance:
                pairs = await _onboarded(rig, n, advance)
            static = await _static(rig, n) + await _static(rig, n) + await _static(rig, n)
            timings = await bounded(
                [link for _, link in pairs], lambda link: _participant(rig, link), n
            )
            logged = sum(1 for pair, _ in pairs if "MeetingLogged" in _types(pair))
    opened = [t[0] for t in timings]
    submitted = [t[1] for t in timings]
    report.add(
        Row("open page p50", _p(opened, 0.5), _p(static, 0.5), "ms"),
        Row("open page p95", _p(opened, 0.95), _p(static, 0.95), "ms"),
        Row("submit log p50", _p(submitted, 0.5), _p(static, 0.5), "ms"),
        Row("submit log p95", _p(submitted, 0.95), _p(static, 0.95), "ms"),
        Row("meetings logged", logged, n, "", f"= {n}", logged == n),
    )
    report.notes.append(
        f"{n} concurrent participants, each: open the link (redirect, page), then post the log "
        f"form; baseline: the stylesheet, {3 * n} requests in 3 rounds of {n} at once; mean open "
        f"{statistics.mean(opened) * 1000:.0f} ms"
    )
    return report


def _types(pair: Pair) -> list[str]:
    return [type(r.event).__name__ for r in pair.ledger()]
