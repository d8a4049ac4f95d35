"""Bounded waits on Temporal: an answer in time, or an exception saying who did not answer.

An update to a workflow whose worker is down waits until a worker accepts it, and a query
waits until a server-side timeout; neither has a useful bound of its own (an RPC timeout only
bounds one attempt, and the SDK re-sends an update whose attempt ran out). So the bound is an
asyncio deadline around the whole call.

Temporal keeps an update it could not deliver: when a worker comes back soon it may still run
it. `NoAnswer` therefore means "not applied yet", never "discarded".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import StrEnum

from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode


class Waited(StrEnum):
    """Who did not answer: the server itself, or a worker (queries and updates need one)."""

    TEMPORAL = "Temporal"
    WORKER = "a worker"


class NoAnswer(Exception):
    """Nobody answered within the bound. `command_sent`: an update went out and is not applied
    (yet); Temporal holds it for a worker."""

    def __init__(
        self,
        waited: Waited,
        seconds: float,
        relationship_id: str | None,
        *,
        command_sent: bool = False,
    ) -> None:
        self.waited = waited
        self.seconds = seconds
        self.relationship_id = relationship_id
        self.command_sent = command_sent
        about = f" about {relationship_id}" if relationship_id else ""
        super().__init__(f"{waited.value} did not answer within {seconds:g} s{about}")


class ResultLate(Exception):
    """A worker accepted the update (it will run) but its result did not come within the bound."""

    def __init__(self, seconds: float, relationship_id: str) -> None:
        self.seconds = seconds
        self.relationship_id = relationship_id
        super().__init__(
            f"{relationship_id}: the update was accepted, its result did not come within "
            f"{seconds:g} s"
        )


@asynccontextmanager
async def within(seconds: float | None, late: Callable[[], Exception]) -> AsyncIterator[None]:
    """Run the body within `seconds` (None: no bound); past it, raise what `late` builds."""
    if seconds is None:
        yield
        return
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            yield
    except (TimeoutError, RPCTimeoutOrCancelledError) as err:
        # The SDK turns a cancelled update call into its own error; only our deadline counts
        # as no answer, not a Ctrl-C.
        if deadline.expired() or _rpc_deadline(err):
            raise late() from err
        raise
    except RPCError as err:
        if err.status is RPCStatusCode.DEADLINE_EXCEEDED:
            raise late() from err
        raise


def _rpc_deadline(err: BaseException) -> bool:
    cause = err.__cause__
    return isinstance(cause, RPCError) and cause.status is RPCStatusCode.DEADLINE_EXCEEDED


class Deadline:
    """One bound shared by the steps of a call (accepted, then finished)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else asyncio.get_running_loop().time() + seconds

    def left(self) -> float | None:
        if self._end is None:
            return None
        return max(0.0, self._end - asyncio.get_running_loop().time())
