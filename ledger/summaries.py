"""The relationship summaries as `list`, `report` and `audit diff --all` read them.

One row per relationship, kept by the ledger's append (`ledger/projection.py` folds them);
reading them needs neither the events nor the domain's fold, so these commands stay quick
however long the histories grow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, Select, and_, func, select

from ledger.records import upcast
from ledger.tables import events_table, refusals_table, summaries_table
from mentorship.vocabulary import Phase

_SM = summaries_table.c
_RF = refusals_table.c
_EV = events_table.c
_IDS_PER_QUERY = 500  # bound parameters per statement, well under every backend's limit


class Summary(BaseModel):
    """A relationship as `list`, `report` and `audit diff --all` read it."""

    model_config = ConfigDict(frozen=True)

    relationship_id: str
    program: str
    kind: str
    topic: str
    mentor: str | None
    mentee: str | None
    phase: str
    outcome: str | None
    at_risk: bool  # at risk now: a concluded relationship is not
    at_risk_since: datetime | None
    ever_at_risk: bool
    next_meeting: datetime | None
    meetings_held: int
    meetings_missed: int
    loops_closed: int
    started_at: datetime | None
    concluded_at: datetime | None
    duration_days: float | None  # program days from start to conclusion
    time_scale: float
    last_seq: int
    last_hash: str
    last_type: str
    last_event_at: datetime
    problem: str | None
    blocked_since: datetime | None = None  # the ledger refused its events (`mentorflow repair`)
    blocked_reason: str | None = None

    @property
    def concluded(self) -> bool:
        return self.phase == Phase.CONCLUDED.value


# --------------------------------------------------------------------------- reading


def _summary(row: Mapping[Any, Any]) -> Summary:
    return Summary.model_validate({k: v for k, v in row.items() if k != "state"})


@dataclass(frozen=True)
class Filters:
    program: str | None = None
    phase: str | None = None
    kind: str | None = None
    mentor: str | None = None
    mentee: str | None = None
    at_risk: bool | None = None
    open_only: bool = False
    with_problem: bool = False
    blocked: bool = False


_COLUMNS = [
    *(c for c in summaries_table.c if c.name != "state"),
    _RF.since.label("blocked_since"),
    _RF.reason.label("blocked_reason"),
]


def _select() -> Select[Any]:
    joined = summaries_table.outerjoin(refusals_table, _RF.relationship_id == _SM.relationship_id)
    return select(*_COLUMNS).select_from(joined)


def find(engine: Engine, filters: Filters, limit: int | None = None) -> list[Summary]:
    query = _select().order_by(_SM.relationship_id)
    for name in ("program", "phase", "kind", "mentor", "mentee", "at_risk"):
        wanted = getattr(filters, name)
        if wanted is not None:
            query = query.where(_SM[name] == wanted)
    if filters.open_only:
        query = query.where(_SM.phase != Phase.CONCLUDED.value)
    if filters.with_problem:
        query = query.where(_SM.problem.is_not(None))
    if filters.blocked:
        query = query.where(_RF.relationship_id.is_not(None))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [_summary(r) for r in conn.execute(query).mappings()]


def refused_unsummarised(engine: Engine, program: str | None = None) -> list[dict[str, Any]]:
    """Relationships refused at their very first event: blocked, with no summary to show."""
    joined = refusals_table.outerjoin(summaries_table, _SM.relationship_id == _RF.relationship_id)
    query = select(refusals_table).select_from(joined).where(_SM.relationship_id.is_(None))
    if program is not None:
        query = query.where(_RF.program == program)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(_RF.relationship_id)).mappings()]


def summaries(engine: Engine, relationship_ids: Sequence[str]) -> dict[str, Summary]:
    query = _select().where(_SM.relationship_id.in_(list(relationship_ids)))
    with engine.connect() as conn:
        return {r["relationship_id"]: _summary(r) for r in conn.execute(query).mappings()}


def everything(engine: Engine) -> list[dict[str, Any]]:
    """Every row as stored, state included: what a rebuild must reproduce exactly."""
    with engine.connect() as conn:
        query = select(summaries_table).order_by(_SM.relationship_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def risk_reasons(engine: Engine, relationship_ids: Sequence[str]) -> dict[str, list[str]]:
    """Why each of these relationships was last found at risk: the reasons of its latest
    AtRiskRaised, which is where the fold takes the state's `risk_reasons` from (and the
    summary's `at_risk` says whether they still hold). Relationships never at risk are absent."""
    reasons: dict[str, list[str]] = {}
    ids = list(relationship_ids)
    with engine.connect() as conn:
        for at in range(0, len(ids), _IDS_PER_QUERY):
            latest = (
                select(_EV.relationship_id, func.max(_EV.seq).label("seq"))
                .where(
                    _EV.relationship_id.in_(ids[at : at + _IDS_PER_QUERY]),
                    _EV.type == "AtRiskRaised",
                )
                .group_by(_EV.relationship_id)
                .subquery()
            )
            query = select(_EV.relationship_id, _EV.payload).join(
                latest,
                and_(_EV.relationship_id == latest.c.relationship_id, _EV.seq == latest.c.seq),
            )
            for relationship_id, payload in conn.execute(query):
                stored = json.loads(payload) if isinstance(payload, str) else payload
                event = upcast("AtRiskRaised", int(stored.get("v", 1)), stored["event"])
                reasons[relationship_id] = [str(r) for r in event.get("reasons", [])]
    return reasons


def pair_names(engine: Engine, relationship_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The mentor's and the mentee's names as each relationship started (the summaries keep
    their ids): one primary-key read of each first event."""
    names: dict[str, tuple[str, str]] = {}
    ids = list(relationship_ids)
    with engine.connect() as conn:
        for at in range(0, len(ids), _IDS_PER_QUERY):
            query = select(_EV.relationship_id, _EV.payload).where(
                _EV.relationship_id.in_(ids[at : at + _IDS_PER_QUERY]),
                _EV.seq == 1,
                _EV.type == "RelationshipStarted",
            )
            for relationship_id, payload in conn.execute(query):
                event = (json.loads(payload) if isinstance(payload, str) else payload)["event"]
                mentor, mentee = event.get("mentor") or {}, event.get("mentee") or {}
                if mentor.get("name") and mentee.get("name"):  # else the ids are shown
                    names[relationship_id] = (mentor["name"], mentee["name"])
    return names
