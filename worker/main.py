"""The worker process: connects, registers what it needs, runs until told to stop."""

from __future__ import annotations

import asyncio
import signal

import structlog

from activities.ledger_store import Ledger
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings
from worker.temporal import connect, register_search_attributes

log = structlog.get_logger("mentorflow.worker")


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or the process gets SIGINT/SIGTERM, then drain and exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings)
    await register_search_attributes(client, settings.namespace)
    ledger = Ledger.from_url(settings.resolved_ledger_url)
    try:
        worker = build_worker(client, settings, lifecycle_activities(settings, ledger))
        async with worker:
            log.info("worker running", task_queue=settings.task_queue, namespace=settings.namespace)
            await stop.wait()
            log.info("worker draining")
    finally:
        ledger.dispose()
    log.info("worker stopped")
