"""Every pair of a program, a page at a time: filter by phase and risk, search by name or id.
A plain GET form, so a filtered list is a link an operator can keep or share. From the
ledger's summaries alone, like the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger.summaries import Filters, Summary, find, pair_names
from mentorship.vocabulary import Phase
from web import views
from web.ops import admitted

PER_PAGE = 50
SEARCH_LONGEST = 100
PHASES = [p.value for p in Phase]


@dataclass(frozen=True)
class Wanted:
    """The filters as typed, checked; `problems` names each bad field and what to type."""

    phase: str = ""
    at_risk: bool = False
    q: str = ""
    page: int = 1

    def query(self, **changed: Any) -> str:
        values = {"phase": self.phase, "at_risk": "1" if self.at_risk else "", "q": self.q}
        values |= {"page": str(self.page)} | {k: str(v) for k, v in changed.items()}
        return urlencode({k: v for k, v in values.items() if v})


def read_filters(params: Any) -> tuple[Wanted, dict[str, str]]:
    problems: dict[str, str] = {}
    phase = str(params.get("phase", "")).strip()
    if phase and phase not in PHASES:
        problems["phase"] = f"{phase!r} is not a phase; choose one of {', '.join(PHASES)}"
        phase = ""
    q = str(params.get("q", "")).strip()
    if len(q) > SEARCH_LONGEST:
        problems["q"] = f"longer than {SEARCH_LONGEST} characters; search for part of a name or id"
        q = ""
    raw_page = str(params.get("page", "1")).strip() or "1"
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 0
    if page == 0:
        problems["page"] = f"{raw_page!r} is not a page number; use 1 or more"
        page = 1
    return Wanted(phase=phase, at_risk=params.get("at_risk") == "1", q=q, page=page), problems


def _page_of(
    engine: Engine, program: str, wanted: Wanted
) -> tuple[list[Summary], dict[str, tuple[str, str]]]:
    """Every matching pair, and the names of the page's pairs. Names come from each pair's
    first event, so they are read for every pair only when a search needs them."""
    filters = Filters(program=program, phase=wanted.phase or None, at_risk=wanted.at_risk or None)
    rows = find(engine, filters)
    if not wanted.q:
        start = (min(wanted.page, _pages(len(rows))) - 1) * PER_PAGE
        shown = [r.relationship_id for r in rows[start : start + PER_PAGE]]
        return rows, pair_names(engine, shown)
    names = pair_names(engine, [r.relationship_id for r in rows])
    needle = wanted.q.casefold()

    def said(row: Summary) -> str:
        known = [row.relationship_id, row.mentor or "", row.mentee or ""]
        return " ".join([*known, *names.get(row.relationship_id, ())]).casefold()

    return [r for r in rows if needle in said(r)], names


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def routes(portal: Any, env: Environment) -> list[Route]:
    async def pairs(request: Request) -> Response:
        program, refused = await admitted(portal, env, request)
        if refused is not None:
            return refused
        wanted, problems = read_filters(request.query_params)
        rows, names = await run_in_threadpool(_page_of, portal.ledger.engine, program, wanted)
        pages = _pages(len(rows))
        if wanted.page > pages:
            problems["page"] = f"there are {pages} page{'s' if pages > 1 else ''}; use 1 to {pages}"
        page = min(wanted.page, pages)
        shown = rows[(page - 1) * PER_PAGE : page * PER_PAGE]
        return views.page(
            env,
            "ops_pairs.html",
            400 if problems else 200,
            program=program,
            wanted=wanted,
            problems=problems,
            phases=PHASES,
            rows=shown,
            names=names,
            total=len(rows),
            first=(page - 1) * PER_PAGE + 1 if shown else 0,
            page=page,
            pages=pages,
        )

    return [Route("/ops/p/{program}", pairs)]
