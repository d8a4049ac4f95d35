"""The operators' side of the portal: the dashboard of their programs and one relationship's
page with every operator action. Sign-in is `web.ops_sign_in`; roster import `web.ops_import`;
the program report `web.ops_report`; every pair of a program, paged, `web.ops_pairs`; the
program's operators `web.ops_roster`.

Every action is checked against the roster of the relationship's program before it is sent
(`client.access.admit`, as the CLI does), and its actor is the signed-in operator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import structlog
from jinja2 import Environment
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from client.access import NotOnRoster, admit
from client.relationships import act, status
from ledger import rosters
from ledger.summaries import (
    Filters,
    find,
    pair_names,
    refused_unsummarised,
    risk_reasons,
)
from mentorship import commands as c
from mentorship.cadence import Cadence
from mentorship.participants import Actor, Role
from web import views
from web.links import Claim, OperatorClaim
from workflows.contract import StatusView

log = structlog.get_logger("mentorflow.portal")
BACK = "Go back to your programs at /ops."
ASK = "One of the program's operators can add you to its roster."
ON_DASHBOARD = 20  # pairs, and at-risk pairs, per program before "all of them" links
ACTIONS = ("pause", "resume", "extend", "cadence", "conclude", "cancel")


def operator_of(request: Request) -> OperatorClaim | None:
    raw = request.session.get("operator")
    if not isinstance(raw, dict):
        return None
    try:
        return OperatorClaim.model_validate(raw)
    except ValidationError:
        return None


def not_signed_in() -> Response:
    return RedirectResponse("/ops/sign-in", status_code=303)


async def admitted(portal: Any, env: Environment, request: Request) -> tuple[str, Response | None]:
    """The program in the path, and the response that turns the operator away if they are not
    signed in or not on its roster (None: go on)."""
    who = operator_of(request)
    program = request.path_params["program"]
    if who is None:
        return program, not_signed_in()
    try:
        await run_in_threadpool(admit, portal.ledger.engine, program, who.operator_id)
    except NotOnRoster as err:
        refused = views.page(
            env, "refused.html", 403, reason=str(err), heading="Not your program", then=ASK
        )
        return program, refused
    return program, None


def _command(action: str, form: dict[str, str], actor: Actor) -> c.Command:
    reason = form.get("reason", "")
    builders: dict[str, Callable[[], c.Command]] = {
        "pause": lambda: c.Pause(actor=actor, reason=reason),
        "resume": lambda: c.Resume(actor=actor),
        "extend": lambda: c.ExtendEndDate(
            actor=actor, end_date=date.fromisoformat(form.get("end_date", ""))
        ),
        "cadence": lambda: c.ChangeCadence(
            actor=actor, cadence=Cadence.parse(form.get("cadence", "")), reason=reason
        ),
        "conclude": lambda: c.Conclude(actor=actor, reason=reason),
        "cancel": lambda: c.Cancel(actor=actor, reason=reason),
    }
    return builders[action]()


def routes(portal: Any, env: Environment) -> list[Route]:
    """`portal` is web.app.Portal (its temporal, ledger, links and clock)."""

    def page(name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        return views.page(env, name, status_code, **values)

    async def dashboard(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        entries = await run_in_threadpool(
            rosters.programs_of, portal.ledger.engine, operator_id=who.operator_id
        )
        now = await portal.clock()
        programs = [
            await run_in_threadpool(_program_view, portal.ledger.engine, entry.program, now)
            for entry in entries
        ]
        return page("ops.html", operator=who, programs=programs)

    async def relationship(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        return await _relationship_page(request, who)

    def expired_form() -> HTMLResponse:
        return page(
            "refused.html",
            403,
            reason="This form has expired; reload the page.",
            heading="Not this page",
            then=BACK,
        )

    async def pair_for(who: OperatorClaim, rid: str) -> tuple[Client, StatusView] | Response:
        """The pair's live status once its program's roster admits `who`, else the page that
        turns them away."""
        client = await portal.temporal()
        try:
            view = await status(client, rid, timeout=10.0)
            await run_in_threadpool(
                admit, portal.ledger.engine, view.state.program, who.operator_id
            )
        except NotOnRoster as err:
            return page("refused.html", 403, reason=str(err), heading="Not your program", then=ASK)
        except RPCError:
            return page(
                "refused.html",
                404,
                reason=f"No running relationship '{rid}'.",
                heading="Not this page",
                then=BACK,
            )
        return client, view

    async def _relationship_page(
        request: Request, who: OperatorClaim, problem: str = "", code: int = 200
    ) -> Response:
        rid = request.path_params["rid"]
        found = await pair_for(who, rid)
        if isinstance(found, Response):
            return found
        _, view = found
        timeline = await run_in_threadpool(views.timeline, portal.ledger, rid)
        return page(
            "ops_relationship.html",
            code,
            operator=who,
            view=view,
            state=view.state,
            timeline=timeline,
            csrf=views.csrf_token(request),
            problem=problem,
            done=request.query_params.get("done", ""),
            masked=views.masked_address,
        )

    async def operate(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        rid, action = request.path_params["rid"], request.path_params["action"]
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not views.csrf_ok(request, form) or action not in ACTIONS:
            return expired_form()
        found = await pair_for(who, rid)
        if isinstance(found, Response):
            return found
        client, _ = found
        actor = Actor(role=Role.OPERATOR, id=who.operator_id)
        try:
            command = _command(action, form, actor)
            await act(client, rid, command, timeout=10.0)
        except (ValueError, ValidationError) as err:
            return await _relationship_page(request, who, f"{action}: {_first(err)}", 400)
        except WorkflowUpdateFailedError as err:
            said = str(getattr(err.cause, "message", None) or err.cause or err)
            return await _relationship_page(request, who, f"{action}: {said}", 400)
        log.info("portal.operator_acted", relationship_id=rid, action=action)
        return RedirectResponse(f"/ops/r/{rid}?done={action}", status_code=303)

    async def send_link(request: Request) -> Response:
        """A participant lost their emails: a fresh personal link goes to their own address,
        never to the operator's screen."""
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        rid, role_name = request.path_params["rid"], request.path_params["role"]
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not views.csrf_ok(request, form) or role_name not in ("mentor", "mentee"):
            return expired_form()
        if portal.send_link is None:
            return await _relationship_page(request, who, "Links cannot be sent from here.", 400)
        found = await pair_for(who, rid)
        if isinstance(found, Response):
            return found
        _, view = found
        role = Role(role_name)
        person = view.state.party(role)
        claim = Claim(relationship_id=rid, person_id=person.id, role=role)
        await portal.send_link(view.state, role, portal.links.url(claim))
        log.info("portal.link_sent", relationship_id=rid, role=role.value, by=who.operator_id)
        return RedirectResponse(f"/ops/r/{rid}?done=link-{role.value}", status_code=303)

    return [
        Route("/ops", dashboard),
        Route("/ops/r/{rid}", relationship),
        Route("/ops/r/{rid}/link/{role}", send_link, methods=["POST"]),
        Route("/ops/r/{rid}/{action}", operate, methods=["POST"]),
    ]


def _first(err: Exception) -> str:
    if isinstance(err, ValidationError):
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"] if p != "actor")
        return f"{where}: {problem['msg'].removeprefix('Value error, ')}"
    return str(err).splitlines()[0]


def _program_view(engine: Engine, program: str, now: datetime) -> dict[str, Any]:
    """One program on the dashboard, from the ledger alone: counts, what needs an operator,
    the first of the at-risk list and of the pairs (the pairs page has them all)."""
    rows = find(engine, Filters(program=program))
    by_phase: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    for row in rows:
        by_phase[row.phase] = by_phase.get(row.phase, 0) + 1
        if row.outcome:
            by_outcome[row.outcome] = by_outcome.get(row.outcome, 0) + 1
    risky = [r for r in rows if r.at_risk]
    blocked = [r for r in rows if r.blocked_since is not None]
    unfolded = [r for r in rows if r.problem is not None]
    shown, risky_shown = rows[:ON_DASHBOARD], risky[:ON_DASHBOARD]
    reasons = risk_reasons(engine, [r.relationship_id for r in risky_shown])
    at_risk = [
        {
            "row": r,
            "days": (now - r.at_risk_since).days if r.at_risk_since else None,
            "reasons": reasons.get(r.relationship_id, []),
        }
        for r in risky_shown
    ]
    named = {r.relationship_id for r in [*shown, *risky_shown, *blocked, *unfolded]}
    return {
        "program": program,
        "total": len(rows),
        "rows": shown,
        "names": pair_names(engine, sorted(named)),
        "by_phase": sorted(by_phase.items()),
        "by_outcome": sorted(by_outcome.items()),
        "at_risk": at_risk,
        "at_risk_total": len(risky),
        "blocked": blocked,
        "unsummarised": refused_unsummarised(engine, program),
        "unfolded": unfolded,
        "now": now.astimezone(UTC),
    }
