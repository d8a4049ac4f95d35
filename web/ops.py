"""The operators' side of the portal: sign-in by an emailed link, the dashboard of their
programs, and one relationship's page with every operator action.

An operator is whoever the sign-in link was mailed to: an address on a program's roster.
Every action is checked against the roster of the relationship's program before it is sent
(`client.access.admit`, as the CLI does), and its actor is the signed-in operator.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import structlog
from jinja2 import Environment
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from client.access import NotOnRoster, admit
from client.relationships import act, status
from ledger import rosters
from ledger.summaries import Filters, Summary, find
from mentorship import commands as c
from mentorship.cadence import Cadence
from mentorship.participants import Actor, Participant, Role
from web.links import SIGN_IN_LIFETIME, LinkRefused, OperatorClaim

log = structlog.get_logger("mentorflow.portal")
SendSignIn = Callable[[Participant, str, list[str]], Awaitable[None]]
ACTIONS = ("pause", "resume", "extend", "cadence", "conclude", "cancel")


def operator_of(request: Request) -> OperatorClaim | None:
    raw = request.session.get("operator")
    if not isinstance(raw, dict):
        return None
    try:
        return OperatorClaim.model_validate(raw)
    except ValidationError:
        return None


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


def routes(portal: Any, env: Environment, send_sign_in: SendSignIn) -> list[Route]:
    """`portal` is web.app.Portal (its temporal, ledger, links and clock)."""

    def page(name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**values), status_code=status_code)

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(24)
            request.session["csrf"] = token
        return token

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            return page("ops_sign_in.html", csrf=csrf(request), sent=False)
        form = await request.form()
        if str(form.get("csrf", "")) != str(request.session.get("csrf", "")):
            return page(
                "ops_sign_in.html",
                403,
                csrf=csrf(request),
                sent=False,
                problem="This form has expired; try again.",
            )
        address = str(form.get("email", "")).strip().lower()
        entries = await run_in_threadpool(rosters.programs_of, portal.ledger.engine, email=address)
        if entries:
            first = entries[0]
            claim = OperatorClaim(operator_id=first.operator_id, email=first.email)
            person = Participant(id=first.operator_id, name=first.name, email=first.email)
            await send_sign_in(
                person, portal.links.sign_in_url(claim), [e.program for e in entries]
            )
            log.info("portal.sign_in_sent", operator=first.operator_id)
        # The same answer either way: the form must not tell who is on a roster.
        return page(
            "ops_sign_in.html",
            csrf=csrf(request),
            sent=True,
            minutes=int(SIGN_IN_LIFETIME.total_seconds() // 60),
        )

    async def open_sign_in(request: Request) -> Response:
        try:
            claim = portal.links.read_sign_in(request.path_params["token"])
        except LinkRefused as err:
            return page(
                "refused.html",
                403,
                reason=err.reason,
                hint="ask for a new sign-in link at /ops/sign-in",
            )
        request.session.clear()
        request.session["operator"] = claim.model_dump()
        csrf(request)
        log.info("portal.operator_signed_in", operator=claim.operator_id)
        return RedirectResponse("/ops", status_code=303)

    async def _risk_reasons(relationship_id: str) -> list[str]:
        """Why it is at risk: the live state knows (the summary keeps only since when)."""
        try:
            view = await status(await portal.temporal(), relationship_id, timeout=10.0)
        except Exception:  # an unanswered query costs the reasons, not the dashboard
            return []
        return list(view.state.risk_reasons)

    def not_signed_in() -> Response:
        return RedirectResponse("/ops/sign-in", status_code=303)

    async def dashboard(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        entries = await run_in_threadpool(
            rosters.programs_of, portal.ledger.engine, operator_id=who.operator_id
        )
        programs = []
        for entry in entries:
            rows = await run_in_threadpool(
                find, portal.ledger.engine, Filters(program=entry.program)
            )
            view = _program_view(entry.program, rows, await portal.clock())
            for item in view["at_risk"]:
                item["reasons"] = await _risk_reasons(item["row"].relationship_id)
            programs.append(view)
        return page("ops.html", operator=who, programs=programs)

    async def relationship(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        return await _relationship_page(request, who)

    async def _relationship_page(
        request: Request, who: OperatorClaim, problem: str = "", code: int = 200
    ) -> Response:
        rid = request.path_params["rid"]
        client = await portal.temporal()
        try:
            view = await status(client, rid, timeout=10.0)
        except RPCError:
            return page(
                "refused.html",
                404,
                reason=f"No running relationship '{rid}'.",
                hint="go back to the dashboard",
            )
        try:
            await run_in_threadpool(
                admit, portal.ledger.engine, view.state.program, who.operator_id
            )
        except NotOnRoster as err:
            return page("refused.html", 403, reason=str(err), hint="ask one of its operators")
        from web.app import _timeline  # the participant page's timeline, shared

        timeline = await run_in_threadpool(_timeline, portal.ledger, rid)
        return page(
            "ops_relationship.html",
            code,
            operator=who,
            view=view,
            state=view.state,
            timeline=timeline,
            csrf=csrf(request),
            problem=problem,
            done=request.query_params.get("done", ""),
        )

    async def operate(request: Request) -> Response:
        who = operator_of(request)
        if who is None:
            return not_signed_in()
        rid, action = request.path_params["rid"], request.path_params["action"]
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if form.get("csrf", "") != str(request.session.get("csrf", "")) or action not in ACTIONS:
            return page(
                "refused.html",
                403,
                reason="This form has expired; reload the page.",
                hint="go back to the dashboard",
            )
        client = await portal.temporal()
        try:
            view = await status(client, rid, timeout=10.0)
            await run_in_threadpool(
                admit, portal.ledger.engine, view.state.program, who.operator_id
            )
        except NotOnRoster as err:
            return page("refused.html", 403, reason=str(err), hint="ask one of its operators")
        except RPCError:
            return page(
                "refused.html",
                404,
                reason=f"No running relationship '{rid}'.",
                hint="go back to the dashboard",
            )
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

    return [
        Route("/ops/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/ops/s/{token}", open_sign_in),
        Route("/ops", dashboard),
        Route("/ops/r/{rid}", relationship),
        Route("/ops/r/{rid}/{action}", operate, methods=["POST"]),
    ]


def _first(err: Exception) -> str:
    if isinstance(err, ValidationError):
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"] if p != "actor")
        return f"{where}: {problem['msg'].removeprefix('Value error, ')}"
    return str(err).splitlines()[0]


def _program_view(program: str, rows: list[Summary], now: datetime) -> dict[str, Any]:
    by_phase: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    for row in rows:
        by_phase[row.phase] = by_phase.get(row.phase, 0) + 1
        if row.outcome:
            by_outcome[row.outcome] = by_outcome.get(row.outcome, 0) + 1
    at_risk = [
        {"row": r, "days": (now - r.at_risk_since).days if r.at_risk_since else None}
        for r in rows
        if r.at_risk
    ]
    return {
        "program": program,
        "rows": rows,
        "by_phase": sorted(by_phase.items()),
        "by_outcome": sorted(by_outcome.items()),
        "at_risk": at_risk,
        "now": now.astimezone(UTC),
    }
