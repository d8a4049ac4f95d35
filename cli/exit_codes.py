"""What a `mentorflow` exit code tells a script, documented in README.md (Commands)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # applied and recorded (or, for a read, answered)
    BAD_INPUT = 1  # a flag, file, id or setting is wrong; the line names it and the fix
    USAGE = 2  # typer's own: an unknown option, a missing argument
    PENDING = 3  # applied; the ledger has not confirmed it yet (it will record it)
    REFUSED = 4  # the relationship or Temporal refused it (a rejection, ledger blocked)
    NO_ANSWER = 5  # nobody answered in time; not applied (Temporal may still deliver it)
    # `audit verify`, worst first when several relationships differ:
    ALTERED = 6  # an event is not what was recorded (content, link, seal, checkpoint)
    MISSING = 7  # recorded events are gone (a range, or the tail a checkpoint signed)
    UNREADABLE = 8  # a row this version or these keys cannot check: not evidence of tampering
