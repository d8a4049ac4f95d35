"""What every page shares: the templates, the CSRF token of the session, times in a person's
own zone, and a relationship's timeline from the ledger."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ledger import audit
from ledger.store import Ledger
from mentorship.narrative import narrate

HERE = Path(__file__).resolve().parent
TIMELINE_LINES = 50


def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(env: Environment, template: str, status_code: int = 200, /, **values: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**values), status_code=status_code)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    return hmac.compare_digest(form.get("csrf", ""), str(request.session.get("csrf", "")))


def masked_address(address: str) -> str:
    """Enough of an address to recognise it, not to learn it: b…@example.org."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


def local_input(moment: datetime, zone_name: str) -> str:
    """A moment as a datetime-local field's value in the person's zone (UTC if unknown)."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def local_text(moment: datetime | None, zone_name: str) -> str:
    if moment is None:
        return ""
    return f"{local_input(moment, zone_name).replace('T', ' ')} ({zone_name})"


def timeline(ledger: Ledger, relationship_id: str) -> list[str]:
    """The relationship's history in sentences, newest first."""
    try:
        records = audit.history(ledger, relationship_id)
    except LookupError:
        return []
    return [line.sentence for line in reversed(narrate(records))][:TIMELINE_LINES]
