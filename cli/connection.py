"""Settings and the Temporal connection for one CLI invocation, and how long it may wait.

Every call to Temporal is bounded (MENTORFLOW_COMMAND_TIMEOUT seconds, default 30): a person
at a shell gets an answer or one line saying who did not answer and what to do, never a hang.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cli.config import settings as settings  # re-exported: most commands want both
from cli.exit_codes import ExitCode
from cli.output import fail, stop
from client.waits import NoAnswer, ResultLate, Waited
from worker.codec import DecryptionError, UnknownKeyError
from worker.temporal import connect

T = TypeVar("T")

TIMEOUT_ENV = "MENTORFLOW_COMMAND_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
_MAX_TIMEOUT = 3600.0
_UNREACHABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
_START_ENGINE = "`mentorflow up` or `mentorflow worker`"


def command_timeout() -> float:
    """Seconds any one call to Temporal may take; read each time, so tests can lower it."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= _MAX_TIMEOUT:
        fail(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds between 0 and {_MAX_TIMEOUT:g}; "
            f"e.g. {TIMEOUT_ENV}=60, or unset it for {DEFAULT_TIMEOUT:g}"
        )
    return seconds


_TRANSPORT = (
    ("connection refused", "nothing is listening there"),
    ("dns error", "that host name does not resolve"),
    ("failed to lookup", "that host name does not resolve"),
    ("timed out", "it did not answer in time"),
    ("certificate", "its TLS certificate was refused; check the MENTORFLOW_TLS_* settings"),
    ("tls", "the TLS handshake failed; check the MENTORFLOW_TLS_* settings"),
    ("unauthenticated", "it refused these credentials"),
)


def transport_reason(raw: str) -> str:
    """What a gRPC transport failure means, without the Rust and tonic text it comes in."""
    lowered = raw.lower()
    for marker, meaning in _TRANSPORT:
        if marker in lowered:
            return meaning
    return raw.split(":")[0].strip() or "no connection"


async def client() -> Client:
    current = settings()
    seconds = command_timeout()
    try:
        return await asyncio.wait_for(connect(current), seconds)
    except ValueError as err:  # e.g. a codec key that does not decode
        fail(f"bad setting: {err}")
    except (RuntimeError, TimeoutError) as err:
        reason = transport_reason(str(err)) if str(err) else f"no answer within {seconds:g} s"
        fail(
            f"cannot reach Temporal at {current.temporal_address} ({reason}); start the engine "
            "with `make run` (or `mentorflow up`), or set TEMPORAL_ADDRESS",
            ExitCode.NO_ANSWER,
        )


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run one async command body, turning what Temporal said (or did not) into one line."""
    try:
        return asyncio.run(_call(work))
    except NoAnswer as err:
        fail(no_answer_line(err), ExitCode.NO_ANSWER)
    except ResultLate as err:
        stop(
            f"a worker accepted the command but did not finish it within {err.seconds:g} s; it "
            f"carries on: check `mentorflow status {err.relationship_id}`",
            ExitCode.PENDING,
        )
    except RPCError as err:
        if err.status in _UNREACHABLE:
            fail(
                f"Temporal at {settings().temporal_address} did not answer ({err.message}); "
                f"is it running? {_START_ENGINE}",
                ExitCode.NO_ANSWER,
            )
        fail(f"Temporal refused the request: {err.message}", ExitCode.REFUSED)
    except KeyError as err:
        if _ENCRYPTED in str(err):
            fail(
                "this relationship's data is encrypted and this CLI has no codec keys; set "
                "MENTORFLOW_CODEC_KEYS (or MENTORFLOW_CODEC_KEYS_FILE) to the worker's keys, or "
                "MENTORFLOW_DATA_DIR to the folder `mentorflow up` runs in (its codec.keys)",
                ExitCode.BAD_INPUT,
            )
        raise
    except (UnknownKeyError, DecryptionError) as err:
        fail(str(err), ExitCode.BAD_INPUT)


_ENCRYPTED = "Unknown payload encoding binary/encrypted"


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def no_answer_line(err: NoAnswer) -> str:
    """Who did not answer, what that means for the command, what to do."""
    within = f"within {err.seconds:g} s"
    if err.waited is Waited.TEMPORAL:
        return (
            f"Temporal at {settings().temporal_address} did not answer {within}; is it running? "
            f"{_START_ENGINE}, or raise {TIMEOUT_ENV} for a slow cluster"
        )
    line = f"no worker answered {within}"
    if not err.command_sent:
        return f"{line}; is the worker running? {_START_ENGINE}"
    return (
        f"{line}: the command was not applied; is the worker running? {_START_ENGINE} "
        "(Temporal keeps the command, so a worker that comes back soon may still apply it: "
        f"check `mentorflow status {err.relationship_id}` before sending it again)"
    )
