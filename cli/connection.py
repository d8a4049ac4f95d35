"""Settings and the Temporal connection for one CLI invocation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TypeVar

from temporalio.client import Client
from temporalio.service import RPCError

from cli.output import fail
from worker.setting_checks import SettingsError, load_settings
from worker.settings import Settings
from worker.temporal import connect

T = TypeVar("T")


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Settings from the environment; a bad one stops the command naming the variable."""
    try:
        return load_settings()
    except SettingsError as err:
        fail(str(err))


async def client() -> Client:
    current = settings()
    try:
        return await connect(current)
    except ValueError as err:  # e.g. a codec key that does not decode
        fail(f"bad setting: {err}")
    except RuntimeError as err:
        fail(
            f"cannot reach Temporal at {current.temporal_address} ({err}); start the engine with "
            "`make run` (or `mentorflow up`), or set TEMPORAL_ADDRESS"
        )


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run one async command body, turning Temporal's RPC errors into one-line reasons."""
    try:
        return asyncio.run(_call(work))
    except RPCError as err:
        fail(f"Temporal refused the request: {err.message}")


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()
