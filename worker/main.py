"""The worker process: checks its settings, connects, registers what it needs, runs until
told to stop, then drains.

Draining matters because a notification is a side effect: when a deployment replaces a
worker (SIGTERM), the delivery it is in the middle of is finished and recorded by that
worker, instead of being cut off and sent again, later, by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, Interceptor
from temporalio.service import RPCError, RPCStatusCode

from ledger.checkpoints import CheckpointStore
from ledger.store import Ledger
from worker.app import build_worker, lifecycle_activities
from worker.observability import configure_logging, tracing, use_runtime
from worker.setting_checks import (
    SettingsError,
    WorkerStartError,
    check_settings,
    env_name,
    load_settings,
)
from worker.settings import Settings
from worker.temporal import connect, register_search_attributes

__all__ = [
    "SettingsError",
    "WorkerStartError",
    "check_settings",
    "env_name",
    "load_settings",
    "run_worker",
]

log = structlog.get_logger("mentorflow.worker")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or the process gets SIGINT/SIGTERM, then drain and return.

    On stop, polling ends at once and activities already running get the worker's graceful
    shutdown timeout to finish. Raises SettingsError (a bad setting, named) or
    WorkerStartError (Temporal unreachable) before doing any work.
    """
    check_settings(settings)
    use_runtime(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    try:
        with tracing(settings) as interceptors:
            client = await _connect(settings, interceptors)
            configure_logging(settings)
            await _register_search_attributes(client, settings.namespace)
            await _serve(client, settings, stop)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    log.info("worker stopped")


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    if not stop.is_set():
        log.info("worker stop requested", signal=sig.name)
    stop.set()


async def _serve(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    ledger = Ledger.from_url(settings.resolved_ledger_url, settings.seal_keys())
    signing = asyncio.create_task(_checkpoints(ledger, settings, stop))
    activities = lifecycle_activities(settings, ledger)
    try:
        worker = build_worker(client, settings, activities)
        async with worker:
            log.info(
                "worker running",
                task_queue=settings.task_queue,
                namespace=settings.namespace,
                temporal=settings.temporal_address,
                sealed=ledger.seal is not None,
            )
            await stop.wait()
            log.info("worker draining", task_queue=settings.task_queue)
        # Sends that outlived their first attempt finish and are recorded before exit, or
        # another worker would resend them once their lease runs out.
        await activities.drain()
    finally:
        signing.cancel()
        ledger.dispose()


async def _checkpoints(ledger: Ledger, settings: Settings, stop: asyncio.Event) -> None:
    """Sign every head at start and then on a schedule, while the worker runs."""
    keys = ledger.seal
    if keys is None:
        log.warning("ledger not sealed: no MENTORFLOW_LEDGER_KEYS, so no checkpoints either")
        return
    store = CheckpointStore(settings.resolved_checkpoint_dir)
    every = settings.checkpoint_every_minutes * 60
    while not stop.is_set():
        try:
            written = await asyncio.to_thread(store.write, ledger, keys)
        except (OSError, SQLAlchemyError) as err:  # the next round tries again
            log.warning("checkpoint not written", error=str(err))
        else:
            if written is not None:
                log.info("checkpoint written", number=written.number, heads=len(written.heads))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _connect(settings: Settings, interceptors: Sequence[Interceptor]) -> Client:
    try:
        client = await connect(settings)
    except RuntimeError as err:
        raise WorkerStartError(
            f"cannot reach Temporal at {settings.temporal_address} ({err}); check "
            f"{env_name('temporal_address')}, the TLS settings, and that the server is up"
        ) from None
    if not interceptors:
        return client
    config = client.config()
    config["interceptors"] = [*config["interceptors"], *interceptors]
    return Client(**config)


async def _register_search_attributes(client: Client, namespace: str) -> None:
    """Workers of a fleet start together; when two add the same attribute at once, the
    loser is told it exists, which is all it wanted."""
    try:
        await register_search_attributes(client, namespace)
    except RPCError as err:
        if err.status not in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.INVALID_ARGUMENT):
            raise
        await register_search_attributes(client, namespace)
