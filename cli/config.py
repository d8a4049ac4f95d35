"""This invocation's settings, for commands that only read the ledger and need no Temporal
connection (and so none of its imports)."""

from __future__ import annotations

from functools import lru_cache

from cli.output import fail
from worker.setting_checks import SettingsError, load_settings
from worker.settings import Settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Settings from the environment; a bad one stops the command naming the variable."""
    try:
        return load_settings()
    except SettingsError as err:
        fail(str(err))
