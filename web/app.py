"""The participant portal: a personal link opens a session; the page shows what is asked of
this person now, with the form for it, and the relationship below.

A thin web layer: writes go through `client.relationships.act` (the same API as the CLI),
reads through a status query and the ledger's history. The actor of every action comes from
the session the signed link opened, never from the form.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from icalendar import Calendar
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from activities.rendering import build_invite
from client.relationships import act, status
from ledger.store import Ledger
from mentorship.invitations import invite_for
from mentorship.participants import Actor, Role
from web import (
    asks,
    forms,
    oidc,
    ops,
    ops_import,
    ops_pairs,
    ops_report,
    ops_roster,
    ops_sign_in,
)
from web.links import Claim, LinkExpired, LinkRefused, Links
from web.mail import SendLink
from web.oidc import OidcProvider
from web.ops_sign_in import SendSignIn
from web.views import (
    HERE,
    csrf_ok,
    csrf_token,
    local_text,
    masked_address,
    page,
    templates,
    timeline,
)
from workflows.contract import TASK_QUEUE, StatusView

log = structlog.get_logger("mentorflow.portal")
ANSWER_WITHIN = 10.0  # seconds: a page that waits longer says so instead of hanging


@dataclass
class Portal:
    """What the pages need: Temporal, the ledger's read side, the link keys."""

    temporal: Callable[[], Awaitable[Client]]
    ledger: Ledger
    links: Links
    sender: str = "mentoring@localhost"
    # The engine's time: decides which meetings are due to be logged (tests skip time).
    clock: Callable[[], Awaitable[datetime]] = field(default=lambda: _wall_clock())
    contact_hint: str = "reply to any email from your program and ask for a new one"
    send_sign_in: SendSignIn | None = None  # operators' emailed sign-in links; None: not offered
    send_link: SendLink | None = None  # a fresh personal link for an expired one; None: not offered
    oidc: OidcProvider | None = None  # operators' sign-in through OpenID Connect, if configured
    link_opens_per_minute: int = 30  # per client address, for personal and sign-in links
    task_queue: str = TASK_QUEUE  # where relationships started from the portal run


# ------------------------------------------------------------------------------ pages


def claim_of(request: Request) -> Claim | None:
    raw = request.session.get("claim")
    if not isinstance(raw, dict):
        return None
    try:
        return Claim.model_validate(raw)
    except ValueError:
        return None


def build_app(portal: Portal) -> Starlette:
    env = templates()

    def refused(request: Request, reason: str, status_code: int = 403) -> HTMLResponse:
        return page(env, "refused.html", status_code, reason=reason, hint=portal.contact_hint)

    async def open_link(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claim = portal.links.read(token)
        except LinkExpired as err:
            log.info("portal.link_refused", reason=err.reason)
            if portal.send_link is None:
                return refused(request, err.reason)
            request.session.clear()
            request.session["relink"] = err.claim.model_dump(mode="json")
            return page(
                env,
                "refused.html",
                403,
                reason=err.reason,
                hint=portal.contact_hint,
                relink=True,
                csrf=csrf_token(request),
            )
        except LinkRefused as err:
            log.info("portal.link_refused", reason=err.reason)
            return refused(request, err.reason)
        request.session.clear()
        request.session["claim"] = claim.model_dump(mode="json")
        csrf_token(request)
        log.info("portal.signed_in", relationship_id=claim.relationship_id, role=claim.role.value)
        return RedirectResponse("/me", status_code=303)

    async def load(claim: Claim) -> StatusView | str:
        client = await portal.temporal()
        try:
            view = await status(client, claim.relationship_id, timeout=ANSWER_WITHIN)
        except RPCError:
            return "This relationship is not running any more, or the engine is not reachable."
        except Exception as err:  # NoAnswer and friends: say so rather than hang
            return f"The engine did not answer ({type(err).__name__}); try again in a minute."
        return view

    async def me(request: Request) -> Response:
        claim = claim_of(request)
        if claim is None:
            return refused(request, "You are not signed in.", 401)
        return await render_me(request, claim)

    async def render_me(
        request: Request,
        claim: Claim,
        failed: str = "",
        errors: dict[str, str] | None = None,
        entered: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        view = await load(claim)
        if isinstance(view, str):
            return refused(request, view, 503)
        state = view.state
        person = state.party(claim.role)
        if person.id != claim.person_id:
            return refused(request, "This link is not for this relationship.")
        now = await portal.clock()
        asked = asks.asked(state, claim.role, now, person.timezone)
        more = asks.also_possible(state, claim.role, now)
        for ask in [*asked, *more]:  # a refused form comes back with what was typed
            if failed and ask.form.action == failed and entered:
                ask.values.update(entered)
        history = await run_in_threadpool(timeline, portal.ledger, claim.relationship_id)
        placed = {f.name for a in [*asked, *more] if a.form.action == failed for f in a.form.fields}
        unplaced = [msg for name, msg in (errors or {}).items() if name not in placed]
        return page(
            env,
            "me.html",
            status_code,
            state=state,
            held=view.ledger_blocked is not None,
            role=claim.role.value,
            person=person,
            partner=state.party(Role.MENTEE if claim.role is Role.MENTOR else Role.MENTOR),
            asked=asked,
            more=more,
            failed=failed,
            errors=errors or {},
            unplaced=unplaced,
            done=request.query_params.get("done", ""),
            csrf=csrf_token(request),
            timeline=history,
            zone=person.timezone,
            local=local_text,
        )

    async def submit(request: Request) -> Response:
        claim = claim_of(request)
        if claim is None:
            return refused(request, "You are not signed in.", 401)
        action = request.path_params["action"]
        data = await request.form()
        form = {k: v for k, v in data.items() if isinstance(v, str)}
        if not csrf_ok(request, form):
            return refused(request, "This form has expired; reload the page and try again.")
        view = await load(claim)
        if isinstance(view, str):
            return refused(request, view, 503)
        state = view.state
        actor = Actor(role=claim.role, id=claim.person_id)
        context = forms.Context(
            state=state,
            actor=actor,
            zone=state.party(claim.role).timezone,
            now=await portal.clock(),
        )
        try:
            command = forms.build(action, form, context)
        except forms.FormError as err:
            return await render_me(request, claim, action, err.errors, form, 400)
        client = await portal.temporal()
        try:
            await act(client, claim.relationship_id, command, timeout=ANSWER_WITHIN)
        except WorkflowUpdateFailedError as err:
            field_name, message = _refusal(action, err)
            return await render_me(request, claim, action, {field_name: message}, form, 400)
        except RPCError:
            return refused(request, "This relationship is not running any more.", 410)
        log.info("portal.acted", relationship_id=claim.relationship_id, action=action)
        return RedirectResponse(f"/me?done={action}", status_code=303)

    async def meeting_ics(request: Request) -> Response:
        claim = claim_of(request)
        if claim is None:
            return refused(request, "You are not signed in.", 401)
        view = await load(claim)
        if isinstance(view, str):
            return refused(request, view, 503)
        state = view.state
        meeting = state.meeting(int(request.path_params["number"]))
        if meeting is None:
            return refused(request, "There is no such meeting on the schedule.", 404)
        people = [state.party(Role.MENTOR), state.party(Role.MENTEE)]
        ics = build_invite(invite_for(state, meeting), portal.sender, people)
        Calendar.from_ical(ics)  # what we serve is what calendars read
        return Response(
            ics,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="meeting-{meeting.number}.ics"'},
        )

    async def relink(request: Request) -> Response:
        """Sends a new link to the person an expired one was for, at their own address."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        raw = request.session.get("relink")
        if portal.send_link is None or not isinstance(raw, dict) or not csrf_ok(request, form):
            return refused(request, "Open the expired link again, then ask for a new one.")
        claim = Claim.model_validate(raw)
        view = await load(claim)
        if isinstance(view, str):
            return refused(request, view, 503)
        person = view.state.party(claim.role)
        if person.id != claim.person_id:
            return refused(request, "This link is not for this relationship.")
        await portal.send_link(view.state, claim.role, portal.links.url(claim))
        request.session.pop("relink", None)
        log.info("portal.link_sent", relationship_id=claim.relationship_id, role=claim.role.value)
        return page(env, "relinked.html", address=masked_address(person.email))

    async def sign_out(request: Request) -> Response:
        request.session.clear()
        return page(env, "signed_out.html")

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    routes = [
        Route("/p/{token}", open_link),
        Route("/me", me),
        Route("/me/{action}", submit, methods=["POST"]),
        Route("/me/meetings/{number:int}.ics", meeting_ics),
        Route("/relink", relink, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["GET", "POST"]),
        Route("/healthz", health),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    if portal.send_sign_in is not None or portal.oidc is not None:
        routes += ops_sign_in.routes(portal, env, portal.send_sign_in, portal.oidc)
        routes += oidc.routes(portal, env, portal.oidc) if portal.oidc else []
        routes += ops.routes(portal, env)
        routes += ops_import.routes(portal, env)
        routes += ops_report.routes(portal, env)
        routes += ops_pairs.routes(portal, env)
        routes += ops_roster.routes(portal, env)
    secure = portal.links.base_url.startswith("https://")
    secret = portal.links.keys.keys[portal.links.keys.active]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog),
            Middleware(SecurityHeaders),
            Middleware(RateLimit, prefix="/p/", per_minute=portal.link_opens_per_minute),
            Middleware(RateLimit, prefix="/relink", per_minute=portal.link_opens_per_minute),
            Middleware(RateLimit, prefix="/ops/s", per_minute=portal.link_opens_per_minute),
            Middleware(RateLimit, prefix="/ops/oidc", per_minute=portal.link_opens_per_minute),
            Middleware(
                SessionMiddleware,
                secret_key=f"session:{secret}",
                session_cookie="mentorflow_session",
                same_site="lax",
                https_only=secure,
                max_age=8 * 3600,
            ),
        ],
    )


async def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _refusal(action: str, err: WorkflowUpdateFailedError) -> tuple[str, str]:
    """The domain's refusal, "field: message", placed on the form's field."""
    text = str(getattr(err.cause, "message", None) or err.cause or err)
    field_name, sep, message = text.partition(": ")
    if not sep or " " in field_name:
        return "", text
    return forms.for_domain_field(action, field_name), message


# ------------------------------------------------------------------------ middleware


class SecurityHeaders:
    """No framing, no sniffing, no referrer (a link's token must not leak), own assets only."""

    HEADERS = [
        (
            b"content-security-policy",
            b"default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimit:
    """At most `per_minute` requests per client address to paths under `prefix`."""

    def __init__(
        self,
        app: ASGIApp,
        prefix: str,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app, self.prefix, self.per_minute, self.clock = app, prefix, per_minute, clock
        self.seen: dict[str, deque[float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            client = (scope.get("client") or ("?", 0))[0]
            now = self.clock()
            hits = self.seen.setdefault(client, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                response = HTMLResponse(
                    "<p>Too many attempts; wait a minute and open your link again.</p>",
                    status_code=429,
                    headers={"Retry-After": "60"},
                )
                await response(scope, receive, send)
                return
            hits.append(now)
        await self.app(scope, receive, send)


SECRET_PATHS = ("/p/", "/ops/s/")  # a personal or sign-in link's token is the rest of the path


class AccessLog:
    """One structured line per request, with personal-link tokens cut from the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: dict[str, int] = {}

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, noting)
        path = scope["path"]
        shown = next((f"{p}…" for p in SECRET_PATHS if path.startswith(p)), path)
        log.info("portal.request", method=scope["method"], path=shown, status=seen.get("status"))
