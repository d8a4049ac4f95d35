"""The portal beside the engine: `mentorflow up` serves it on MENTORFLOW_PORTAL_PORT."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client

from ledger.store import Ledger
from web.app import Portal, build_app
from web.links import links_from
from web.mail import link_sender, sign_in_sender
from web.oidc import oidc_from
from worker.app import channels_config
from worker.settings import Settings
from worker.temporal import connect


def portal_for(settings: Settings, ledger: Ledger) -> Portal | None:
    """None when there are no link keys: without them nobody could sign in."""
    links = links_from(settings)
    if links is None:
        return None
    connecting: asyncio.Task[Client] | None = None

    async def temporal() -> Client:
        nonlocal connecting
        if connecting is None or (connecting.done() and connecting.exception() is not None):
            connecting = asyncio.ensure_future(connect(settings))
        return await connecting

    contact = settings.contacts.default
    hint = (
        f"write to {contact.name} <{contact.email}>"
        if contact
        else "reply to any email from your program and ask for a new one"
    )
    return Portal(
        temporal=temporal,
        ledger=ledger,
        links=links,
        sender=settings.smtp_sender,
        contact_hint=hint,
        send_sign_in=None if settings.oidc_only else sign_in_sender(channels_config(settings)),
        send_link=link_sender(channels_config(settings), timedelta(days=settings.link_days)),
        oidc=oidc_from(settings),
        task_queue=settings.task_queue,
    )


__all__ = ["build_app", "portal_for"]
