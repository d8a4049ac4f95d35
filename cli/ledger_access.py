"""Opening the ledger the worker writes, for the commands that read it.

Audit commands need it (a missing SQLite file is an error, not a new empty ledger); `start`
and `import` only check a new id against it, so for them no ledger yet means no history yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from cli.config import settings
from cli.output import fail, warn
from ledger.checkpoints import CheckpointStore
from ledger.seal import SealKeyError, SealKeys
from ledger.store import Ledger


def _parsed(url: str) -> URL:
    try:
        return make_url(url)
    except SQLAlchemyError:
        fail(f"MENTORFLOW_LEDGER_URL {url!r} is not a database URL; e.g. sqlite:///ledger.db")


def _missing_file(parsed: URL) -> str | None:
    """The SQLite file the URL names, when it does not exist."""
    database = parsed.database or ""
    local_file = database not in ("", ":memory:") and not database.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and local_file and not Path(database).exists():
        return database
    return None


@contextmanager
def open_ledger() -> Iterator[Ledger]:
    """The ledger the worker writes; a missing SQLite file is an error, not a new empty ledger."""
    url = settings().resolved_ledger_url
    parsed = _parsed(url)
    missing = _missing_file(parsed)
    if missing is not None:
        fail(
            f"no ledger at {missing}; point MENTORFLOW_LEDGER_URL (or MENTORFLOW_DATA_DIR) "
            "at the one the worker writes"
        )
    seal = seal_keys()
    try:
        ledger = Ledger.from_url(url, seal)
    except (SQLAlchemyError, ValueError) as err:
        shown = parsed.render_as_string(hide_password=True)
        fail(f"cannot open the ledger {shown}: {str(err).splitlines()[0]}")
    try:
        yield ledger
    except SQLAlchemyError as err:  # e.g. the database went away, or a table was dropped
        shown = parsed.render_as_string(hide_password=True)
        fail(f"cannot read the ledger {shown}: {str(err).splitlines()[0]}")
    finally:
        ledger.dispose()


@contextmanager
def roster_ledger() -> Iterator[Ledger]:
    """The ledger that holds the programs' rosters; made when missing (the first `start` on a
    machine may come before the worker made it). One that cannot be opened refuses the
    command: nobody acts unchecked."""
    url = settings().resolved_ledger_url
    parsed = _parsed(url)
    try:
        ledger = Ledger.from_url(url, seal_keys())
    except (SQLAlchemyError, ValueError) as err:
        shown = parsed.render_as_string(hide_password=True)
        fail(
            f"cannot open the ledger {shown} to check the program's operators "
            f"({str(err).splitlines()[0]}); nothing was done"
        )
    try:
        yield ledger
    finally:
        ledger.dispose()


def seal_keys() -> SealKeys | None:
    """The ledger's keys as configured here, or one line naming the setting to fix."""
    try:
        return settings().seal_keys()
    except SealKeyError as err:
        fail(str(err))


def checkpoint_store() -> CheckpointStore:
    return CheckpointStore(settings().resolved_checkpoint_dir)


@contextmanager
def ledger_to_check() -> Iterator[Ledger | None]:
    """The ledger to check new ids against, or None: no SQLite file yet (nothing ran here), or
    it cannot be opened (a warning says the start goes ahead unchecked; its events wait)."""
    url = settings().resolved_ledger_url
    parsed = _parsed(url)
    if _missing_file(parsed) is not None:
        yield None
        return
    try:
        ledger = Ledger.from_url(url)
    except (SQLAlchemyError, ValueError) as err:
        shown = parsed.render_as_string(hide_password=True)
        warn(
            f"cannot open the ledger {shown} ({str(err).splitlines()[0]}); starting without "
            "checking it for an earlier history of the same id"
        )
        yield None
        return
    try:
        yield ledger
    finally:
        ledger.dispose()
