"""Older shapes of the carried `RelationshipState`, brought up to the current one on load.

A run started by an older build hands its state to this build at continue-as-new (and, with
Worker Versioning, at every upgrade). Each upcaster is a pure `dict -> dict` step from one
schema version to the next, written against that old shape as it was serialised and frozen
once released: it must keep describing v0.1 even when today's fold moves on, so it holds its
own copy of the rules it applies instead of calling the fold. `RelationshipState` runs the
chain in a `mode="before"` validator; no business rule runs, only bookkeeping.

Version 1 is v0.1: no `schema_version` field, every meeting, item, loop, review and reminder
kept for ever, and the counters derived from those lists on each read.
Version 2 keeps stored counters and only what is open plus a short recent window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

CURRENT = 2
UNVERSIONED = 1  # a payload without `schema_version` was written by v0.1

Shape = dict[str, Any]
Upcaster = Callable[[Shape], Shape]

# The version 2 window, as released: past meetings kept, besides the last one held.
V2_RECENT_MEETINGS = 5
# What version 2 added to the v0.1 shape: its counters, and the version itself.
V2_FIELDS = frozenset(
    {
        "schema_version",
        "meetings_held",
        "meetings_missed",
        "latest_past_slot",
        "meeting_wins",
        "loops_requested",
        "loops_closed",
        "reviews_opened",
    }
)


def upcast(data: Shape) -> Shape:
    """The current shape of a carried state of any known version."""
    version = data.get("schema_version", UNVERSIONED)
    if not isinstance(version, int):
        return data  # not ours to guess: the model's own validation names the field
    while version < CURRENT:
        data = UPCASTERS[version](data)
        version = data["schema_version"]
    if version > CURRENT:
        # A newer build's state read by this one (a rollback): unknown fields are ignored, so
        # what this build carries on is its own shape, and a newer build re-derives from it.
        data = {**data, "schema_version": CURRENT}
    return data


def v1_to_v2(old: Shape) -> Shape:
    """Derive the counters from the full lists v0.1 carried, then keep what v2 keeps."""
    data: Shape = to_jsonable_python(old)  # JSON values, whether read from a payload or code
    meetings: list[Shape] = data.get("meetings", [])
    loops: list[Shape] = data.get("loops", [])
    past = [m for m in meetings if _status(m) != "scheduled"]
    counters: Shape = {  # exactly `V2_FIELDS` but the version
        "meetings_held": sum(1 for m in meetings if _status(m) == "held"),
        "meetings_missed": sum(1 for m in meetings if _status(m) == "missed"),
        "loops_requested": len(loops),
        "loops_closed": sum(1 for lp in loops if lp.get("closed_at") is not None),
        "reviews_opened": len(data.get("reviews", [])),
        "latest_past_slot": max((m["scheduled_at"] for m in past), key=_moment, default=None),
        "meeting_wins": list(dict.fromkeys(w for m in meetings for w in m.get("wins", []))),
    }
    for name, value in counters.items():
        data.setdefault(name, value)  # absent from any real v0.1 payload; kept if code set it
    data["schema_version"] = 2
    return _v2_prune(data)


def _v2_prune(data: Shape) -> Shape:
    data["meetings"] = _v2_meetings(data.get("meetings", []))
    data["action_items"] = {
        key: item
        for key, item in data.get("action_items", {}).items()
        if item.get("status", "in_progress") != "done"
    }
    data["loops"] = _v2_loops(data.get("loops", []))
    data["reviews"] = data.get("reviews", [])[-1:]
    data["reminders_sent"] = [r for r in data.get("reminders_sent", []) if _v2_live(data, r)]
    return data


def _v2_meetings(meetings: list[Shape]) -> list[Shape]:
    past = [i for i, m in enumerate(meetings) if _status(m) != "scheduled"]
    held = [i for i in past if _status(meetings[i]) == "held"]
    kept = set(past[-V2_RECENT_MEETINGS:]) | set(held[-1:])
    return [m for i, m in enumerate(meetings) if _status(m) == "scheduled" or i in kept]


def _v2_loops(loops: list[Shape]) -> list[Shape]:
    closed = [lp for lp in loops if lp.get("closed_at") is not None]
    last = max(closed, key=lambda lp: (_moment(lp["closed_at"]), lp["number"]), default=None)
    return [lp for lp in loops if lp.get("closed_at") is None or lp is last]


def _v2_live(data: Shape, ref: str) -> bool:
    """Whether a reminder ref still names something open, as v2 decides it."""
    kind, _, key = ref.partition(":")[0].partition("-")
    if kind == "meeting":
        return any(str(m["number"]) == key and _status(m) == "scheduled" for m in data["meetings"])
    if kind == "item":
        return key in data["action_items"]
    if kind == "loop":
        return any(str(lp["number"]) == key and lp.get("closed_at") is None for lp in data["loops"])
    if kind == "review":
        return any(str(r["number"]) == key and r.get("decision") is None for r in data["reviews"])
    if kind == "onboarding":
        return data.get("agreement") is None
    return True


def _status(meeting: Shape) -> str:
    return str(meeting.get("status", "scheduled"))


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


UPCASTERS: dict[int, Upcaster] = {UNVERSIONED: v1_to_v2}
