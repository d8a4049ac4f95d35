"""A program's roster in the portal: its operators, who added them, adding one and taking one
off (never the last). The same rules as `mentorflow operators`, through `client.access`; the
operator who acts is the signed-in one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from client.access import add_operator, remove_operator
from ledger import rosters
from mentorship.participants import Participant
from web import forms, views
from web.ops import admitted, operator_of

FIELDS = ("id", "name", "email")


def routes(portal: Any, env: Environment) -> list[Route]:
    engine = portal.ledger.engine

    async def show(
        request: Request,
        program: str,
        code: int = 200,
        errors: dict[str, str] | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response:
        everyone = await run_in_threadpool(rosters.operators, engine, program, removed=True)
        who = operator_of(request)
        return views.page(
            env,
            "ops_roster.html",
            code,
            program=program,
            me=who.operator_id if who else "",
            active=[e for e in everyone if e.removed_at is None],
            removed=[e for e in everyone if e.removed_at is not None],
            errors=errors or {},
            entered=entered or {},
            csrf=views.csrf_token(request),
            added=request.query_params.get("added", ""),
            already=request.query_params.get("already", ""),
            gone=request.query_params.get("removed", ""),
        )

    async def roster(request: Request) -> Response:
        program, refused = await admitted(portal, env, request)
        return refused or await show(request, program)

    async def change(request: Request) -> Response:
        program, refused = await admitted(portal, env, request)
        if refused is not None:
            return refused
        who = operator_of(request)
        assert who is not None  # admitted
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not views.csrf_ok(request, form):
            return await show(request, program, 403, {"": "This form has expired; try again."})
        now = datetime.now(UTC)
        if request.path_params["change"] not in ("add", "remove"):
            return await show(request, program, 404, {"": "No such change; add or remove."})
        if request.path_params["change"] == "add":
            try:
                newcomer = Participant(**{k: form.get(k, "").strip() for k in FIELDS})
            except ValidationError as err:
                return await show(request, program, 400, forms.field_errors("roster", err), form)
            added = await run_in_threadpool(
                add_operator, engine, program, who.operator_id, newcomer, now
            )
            said = urlencode({"added" if added else "already": newcomer.id})
            return RedirectResponse(f"/ops/roster/{program}?{said}", status_code=303)
        leaving = form.get("id", "")
        try:
            removed = await run_in_threadpool(
                remove_operator, engine, program, who.operator_id, leaving, now
            )
        except rosters.LastOperator as err:
            return await show(request, program, 400, {"": str(err)})
        if not removed:
            return await show(request, program, 400, {"": f"{leaving} is not on the roster"})
        if leaving == who.operator_id:
            return RedirectResponse("/ops", status_code=303)
        said = urlencode({"removed": leaving})
        return RedirectResponse(f"/ops/roster/{program}?{said}", status_code=303)

    return [
        Route("/ops/roster/{program}", roster),
        Route("/ops/roster/{program}/{change:str}", change, methods=["POST"]),
    ]
