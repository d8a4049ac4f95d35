"""Pydantic's errors in the user's terms: one line of `where: problem` pairs.

The CLI names a value by the flag it came from; the portal and a roster by the field or column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

_ISO_TIME = "use ISO 8601 with an offset, e.g. 2026-03-20T15:00:00Z"
_ISO_DATE = "use YYYY-MM-DD, e.g. 2027-01-31"
_SAID: dict[str, str] = {
    "datetime_parsing": f"is not a date and time; {_ISO_TIME}",
    "datetime_from_date_parsing": f"is not a date and time; {_ISO_TIME}",
    "datetime_type": f"is not a date and time; {_ISO_TIME}",
    "date_parsing": f"is not a date; {_ISO_DATE}",
    "date_from_datetime_parsing": f"is not a date; {_ISO_DATE}",
    "date_from_datetime_inexact": f"is a time, not a date; {_ISO_DATE}",
    "date_type": f"is not a date; {_ISO_DATE}",
    "int_parsing": "is not a whole number; e.g. 3",
    "int_from_float": "is not a whole number; e.g. 3",
    "float_parsing": "is not a number; e.g. 2.5",
    "bool_parsing": "is not yes or no; use true or false",
    "extra_forbidden": "is not a field of this command; remove it",
}


def validation_message(
    err: ValidationError, flags: Mapping[str, str] | None = None, typed: Iterable[str] = ()
) -> str:
    """Pydantic's errors as 'where: problem' pairs on one line, in the user's terms: a value
    that came from a flag is named by the flag (`--to`, not `new_time`), a value from a file
    by its field, and the problem says what to type instead."""
    parts = []
    for problem in err.errors():
        loc = [str(p) for p in problem["loc"]]
        where = ".".join(loc) or "input"
        if flags is not None and loc and loc[0] in set(typed):
            where = _flag_for(loc, flags) or where
        parts.append(f"{where}: {_problem(problem)}")
    return "; ".join(parts)


def _flag_for(loc: list[str], flags: Mapping[str, str]) -> str | None:
    for end in range(len(loc), 0, -1):
        flag = flags.get(".".join(loc[:end]))
        if flag is not None:
            return flag
    return None


def _problem(problem: Mapping[str, Any]) -> str:
    kind, value = problem["type"], problem.get("input")
    shown = f"{value!r} " if isinstance(value, str | int | float) and kind != "missing" else ""
    if kind in _SAID:
        return f"{shown}{_SAID[kind]}"
    if kind == "missing":
        return "is missing; give it"
    message = str(problem["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be"):
        return f"{shown}{message.replace('Input should be', 'must be', 1)}"
    return message
