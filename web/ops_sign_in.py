"""How an operator signs in: a link emailed to an address on a program's roster (the
embedded default), or an OpenID Connect provider where one is configured (`web.oidc`).

Either way the session holds an `OperatorClaim` for a roster entry, and nothing else
decides who the operator is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ledger import rosters
from mentorship.participants import Participant
from web import views
from web.links import SIGN_IN_LIFETIME, LinkRefused, OperatorClaim

log = structlog.get_logger("mentorflow.portal")
SendSignIn = Callable[[Participant, str, list[str]], Awaitable[None]]


def sign_in_as(request: Request, claim: OperatorClaim) -> RedirectResponse:
    """A fresh session for this operator (nothing of an earlier one survives)."""
    request.session.clear()
    request.session["operator"] = claim.model_dump()
    views.csrf_token(request)
    log.info("portal.operator_signed_in", operator=claim.operator_id)
    return RedirectResponse("/ops", status_code=303)


def routes(
    portal: Any, env: Environment, send_sign_in: SendSignIn | None, provider: Any = None
) -> list[Route]:
    """`send_sign_in` None: no emailed links (OIDC only). `provider` is the OIDC provider
    (`web.oidc.OidcProvider`) offered on the page, if any."""
    minutes = int(SIGN_IN_LIFETIME.total_seconds() // 60)

    def form_page(request: Request, code: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("sent", False)
        return views.page(
            env,
            "ops_sign_in.html",
            code,
            csrf=views.csrf_token(request),
            provider=provider,
            by_email=send_sign_in is not None,
            minutes=minutes,
            **values,
        )

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            return form_page(request, problem=request.query_params.get("problem", ""))
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if send_sign_in is None:
            return form_page(request, 403, problem="Sign in with the button above.")
        if not views.csrf_ok(request, form):
            return form_page(request, 403, problem="This form has expired; try again.")
        address = form.get("email", "").strip().lower()
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
        return form_page(request, sent=True)

    async def open_sign_in(request: Request) -> Response:
        try:
            claim = portal.links.read_sign_in(request.path_params["token"])
        except LinkRefused as err:
            return views.page(
                env,
                "refused.html",
                403,
                reason=err.reason,
                hint="ask for a new sign-in link at /ops/sign-in",
            )
        return sign_in_as(request, claim)

    return [
        Route("/ops/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/ops/s/{token}", open_sign_in),
    ]
