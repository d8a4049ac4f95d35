"""The portal for real: served by uvicorn on loopback beside a worker on the time-skipping
server, with the link keys the worker signs its notifications' links with."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Browser, Page
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.access import admit_starter
from ledger import rosters
from ledger.store import Ledger
from mentorship.enrolment import StartRelationship
from tests.lifecycle import Lifecycle, Pair
from web.app import Portal, build_app
from web.links import Links, OperatorClaim, links_from
from web.mail import link_sender, sign_in_sender
from web.oidc import OidcProvider
from worker.app import build_worker, channels_config, lifecycle_activities
from worker.codec_server import bound_socket
from worker.codec_server import server as uvicorn_server
from worker.settings import Settings

SHOTS = Path(__file__).resolve().parent.parent / ".artifacts" / "portal"
LINK_KEYS = "test-2026a:" + "a" * 48 + ",test-2025:" + "b" * 48
_LINK = re.compile(r"https?://[^\s]+/p/[A-Za-z0-9._-]+")
_ANY_LINK = re.compile(r"https?://[^\s]+/(?:p|ops/s)/[A-Za-z0-9._-]+")


@dataclass
class PortalRig:
    life: Lifecycle
    url: str
    links: Links
    ledger: Ledger

    def link_in(self, pair: Pair, kind: str, role: str) -> str:
        """The personal link in the latest `kind` message to `role`, as they received it."""
        for message in reversed(pair.outbox()):
            if message["kind"] == kind and message["recipient_role"] == role:
                found = _LINK.search(message["text"])
                assert found, f"no personal link in the {kind} message to the {role}"
                return found.group(0)
        raise AssertionError(f"no {kind} message to the {role} yet: {pair.sent()}")

    async def outbox_link(self, kind: str, email: str) -> str | None:
        """The link in the latest `kind` message to `email` in the outbox, if one came."""
        for _ in range(100):
            for message in reversed(self.life.outbox()):
                if message["kind"] == kind and message.get("recipient_email") == email:
                    found = _ANY_LINK.search(message["text"])
                    return found.group(0) if found else None
            await asyncio.sleep(0.05)
        return None

    async def start(self, request: StartRelationship) -> Pair:
        """Start a pair and wait for both welcomes: a test that ended with a delivery still
        running would leave the shared time-skipping server's clock locked for the next."""
        admit_starter(self.ledger.engine, request.program, request.operator, await self.life.now())
        pair = await self.life.start(request)
        for role in ("mentor", "mentee"):
            await self.wait_for(pair, "welcome", role)
        return pair

    async def wait_for(self, pair: Pair, kind: str, role: str) -> str:
        for _ in range(300):  # bounded: delivery runs right after the step that decided it
            if any(m["kind"] == kind and m["recipient_role"] == role for m in pair.outbox()):
                return self.link_in(pair, kind, role)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} message to the {role}: {pair.sent()}")


@asynccontextmanager
async def running_portal(
    env: WorkflowEnvironment, settings: Settings, link_opens_per_minute: int = 30
) -> AsyncIterator[PortalRig]:
    sock = bound_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    linked = settings.model_copy(update={"link_keys": SecretStr(LINK_KEYS), "portal_url": url})
    ledger = Ledger.from_url(linked.resolved_ledger_url)
    links = links_from(linked)
    assert links is not None

    async def temporal() -> Client:
        return env.client

    async def engine_time() -> datetime:
        return await env.get_current_time()

    portal = Portal(
        temporal=temporal,
        ledger=ledger,
        links=links,
        clock=engine_time,
        send_sign_in=sign_in_sender(channels_config(linked)),
        send_link=link_sender(channels_config(linked), links.lifetime),
        link_opens_per_minute=link_opens_per_minute,
        task_queue=linked.task_queue,
    )
    server = uvicorn_server(build_app(portal), "127.0.0.1", 0)
    serving = asyncio.create_task(server.serve([sock]))
    life = Lifecycle(env, linked, ledger)
    try:
        async with build_worker(env.client, linked, lifecycle_activities(linked, ledger)):
            while not server.started:
                await asyncio.sleep(0.01)
            try:
                yield PortalRig(life=life, url=url, links=links, ledger=ledger)
            finally:
                await life.close()
    finally:
        server.should_exit = True
        await serving
        ledger.dispose()


async def person(browser: Browser) -> Page:
    """Each person in their own browser context: their own cookies, a phone's width."""
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    return await context.new_page()


async def shot(page: Page, name: str) -> None:
    """A test artefact: the whole page, under .artifacts/portal/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@dataclass
class LedgerPortal:
    """The portal over a ledger alone: for pages that never ask the engine (sign-in, reports)."""

    url: str
    portal: Portal
    ledger: Ledger

    def sign_in_url(self, operator_id: str = "olga", email: str = "olga@example.org") -> str:
        return self.portal.links.sign_in_url(OperatorClaim(operator_id=operator_id, email=email))


@asynccontextmanager
async def ledger_portal(
    settings: Settings,
    clock: Callable[[], Awaitable[datetime]],
    oidc: OidcProvider | None = None,
    by_email: bool = True,
    temporal: Callable[[], Awaitable[Client]] | None = None,
) -> AsyncIterator[LedgerPortal]:
    sock = bound_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    linked = settings.model_copy(update={"link_keys": SecretStr(LINK_KEYS), "portal_url": url})
    ledger = Ledger.from_url(linked.resolved_ledger_url)
    links = links_from(linked)
    assert links is not None

    async def no_engine() -> Client:
        raise AssertionError("this portal has no engine: the page asked for one")

    portal = Portal(
        temporal=temporal or no_engine,
        ledger=ledger,
        links=links,
        clock=clock,
        send_sign_in=sign_in_sender(channels_config(linked)) if by_email else None,
        oidc=oidc,
    )
    server = uvicorn_server(build_app(portal), "127.0.0.1", 0)
    serving = asyncio.create_task(server.serve([sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield LedgerPortal(url, portal, ledger)
    finally:
        server.should_exit = True
        await serving
        ledger.dispose()


def oscar_runs_sales(engine: Engine) -> None:
    """Oscar, an operator of another program (sales-2026) and of nothing here."""
    entry = rosters.RosterEntry(
        program="sales-2026",
        operator_id="oscar",
        name="Oscar Operator",
        email="oscar@example.org",
        added_by="test",
        added_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    rosters.add(engine, entry)
