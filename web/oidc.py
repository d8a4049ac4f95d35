"""Operators' sign-in through an OpenID Connect provider (authlib), where one is configured.

The provider vouches for an email address; the roster decides whether that address runs a
program. Nothing the provider says beyond a verified email makes anyone an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
import structlog
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger import rosters
from web import views
from web.links import OperatorClaim
from web.ops_sign_in import sign_in_as
from worker.settings import Settings

log = structlog.get_logger("mentorflow.portal")
CALLBACK = "/ops/oidc/callback"
PROVIDER_TIMEOUT = 10.0  # seconds: a provider that does not answer gets a page, not a hang


@dataclass(frozen=True)
class OidcProvider:
    name: str
    issuer: str
    client_id: str
    client_secret: str
    only: bool = False  # no emailed sign-in links beside it

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


def oidc_from(settings: Settings) -> OidcProvider | None:
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    return OidcProvider(
        name=settings.oidc_name,
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        only=settings.oidc_only,
    )


def routes(portal: Any, env: Environment, provider: OidcProvider) -> list[Route]:
    oauth = OAuth()
    oauth.register(
        "operators",
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        server_metadata_url=provider.metadata_url,
        client_kwargs={"scope": "openid email profile", "timeout": PROVIDER_TIMEOUT},
    )
    client = oauth.create_client("operators")
    assert client is not None

    def refused(reason: str, code: int = 403) -> Response:
        hint = "try again at /ops/sign-in" + (
            "" if provider.only else ", or ask for an emailed link"
        )
        return views.page(env, "refused.html", code, reason=reason, hint=hint)

    async def start(request: Request) -> Response:
        try:
            redirect: Response = await client.authorize_redirect(
                request, f"{portal.links.base_url.rstrip('/')}{CALLBACK}"
            )
        except (httpx2.HTTPError, OAuthError, ValueError) as err:
            log.warning("portal.oidc_unreachable", issuer=provider.issuer, error=str(err))
            return refused(f"{provider.name} ({provider.issuer}) did not answer.", 503)
        return redirect

    async def callback(request: Request) -> Response:
        try:
            token = await client.authorize_access_token(request)
            claims = token.get("userinfo") or await client.userinfo(token=token)
        except OAuthError as err:
            log.info("portal.oidc_refused", error=err.error)
            said = ": ".join(str(p) for p in (err.error, err.description) if p)
            return refused(f"The sign-in did not complete ({said}).")
        except httpx2.HTTPError as err:
            log.warning("portal.oidc_unreachable", issuer=provider.issuer, error=str(err))
            return refused(f"{provider.name} ({provider.issuer}) did not answer.", 503)
        email = str(claims.get("email") or "").strip().lower()
        if not email:
            return refused(
                f"{provider.name} did not say who you are by email; its administrator must "
                "release the 'email' claim to this portal."
            )
        if claims.get("email_verified") is False:
            return refused(f"{provider.name} has not verified {email}; verify it there first.")
        entries = await run_in_threadpool(rosters.programs_of, portal.ledger.engine, email=email)
        if not entries:
            log.info("portal.oidc_not_on_roster")
            return refused(
                f"{email} is not on any program's roster; an operator of the program adds you "
                "with `mentorflow operators add PROGRAM --id ID --name NAME --email ADDRESS`."
            )
        first = entries[0]
        return sign_in_as(request, OperatorClaim(operator_id=first.operator_id, email=first.email))

    return [Route("/ops/oidc/start", start), Route(CALLBACK, callback)]
