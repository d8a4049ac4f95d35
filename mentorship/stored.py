"""Reading what was stored: older shapes load, and no business rule runs on them.

A rule tightened in a later release (a stricter e-mail pattern, a new policy bound) must not
make a recorded participant or a carried policy unreadable. Loaders pass `STORED` as the
validation context; a value type shared by commands and stored shapes skips its input
checks when it sees it. Stored-only shapes (`mentorship.events.Shape`) have no checks at all.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo

STORED: dict[str, Any] = {"stored": True}


def is_stored(info: ValidationInfo) -> bool:
    """True while loading recorded or carried data rather than a person's input."""
    return isinstance(info.context, dict) and bool(info.context.get("stored"))
