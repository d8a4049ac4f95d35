"""The messages the portal sends itself: an operator's sign-in link, by email where the
program has a relay, else into the outbox like every other message; and a participant's fresh
personal link, by the channel their relationship uses for them."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

from activities.channels import ChannelsConfig, OutgoingMessage
from activities.delivery import build_channels
from activities.rendering import render
from mentorship.notifications import Notification, NotificationKind, Recipient
from mentorship.participants import Channel as ChannelName
from mentorship.participants import Participant, Role
from mentorship.state import RelationshipState
from web.links import SIGN_IN_LIFETIME
from web.ops_sign_in import SendSignIn


def sign_in_sender(config: ChannelsConfig) -> SendSignIn:
    channels = build_channels(config)
    name = ChannelName.EMAIL if ChannelName.EMAIL in channels else ChannelName.OUTBOX

    async def send(person: Participant, url: str, programs: list[str]) -> None:
        recipient = Recipient(
            role=Role.OPERATOR, person=person.model_copy(update={"channel": name})
        )
        listed = ", ".join(programs)
        notification = Notification(
            key=f"sign-in:{person.id}:{secrets.token_hex(8)}",
            kind=NotificationKind.OPERATOR_SIGN_IN,
            relationship_id="",
            program=listed,
            recipients=(recipient,),
            context={
                "sign_in_url": url,
                "minutes": int(SIGN_IN_LIFETIME.total_seconds() // 60),
                "programs": listed,
                "program": listed,
            },
        )
        rendered = render(notification, recipient)
        message = OutgoingMessage(notification=notification, recipient=recipient, rendered=rendered)
        await channels[name].send(message)

    return send


SendLink = Callable[[RelationshipState, Role, str], Awaitable[None]]


def link_sender(config: ChannelsConfig, lifetime: timedelta) -> SendLink:
    """Sends `url`, a new personal link, to the `role` of the relationship `state`, to the
    address and by the channel the relationship has for them (email or the outbox if that
    channel is not set up here)."""
    channels = build_channels(config)
    fallback = ChannelName.EMAIL if ChannelName.EMAIL in channels else ChannelName.OUTBOX

    async def send(state: RelationshipState, role: Role, url: str) -> None:
        person = state.party(role)
        name = person.channel if person.channel in channels else fallback
        recipient = Recipient(role=role, person=person.model_copy(update={"channel": name}))
        operator = state.operator
        notification = Notification(
            key=f"link:{state.id}:{person.id}:{secrets.token_hex(8)}",
            kind=NotificationKind.PERSONAL_LINK,
            relationship_id=state.id,
            program=state.program,
            recipients=(recipient,),
            context={
                "url": url,
                "days": lifetime.days,
                "relationship_id": state.id,
                "mentor_name": state.party(Role.MENTOR).name,
                "mentee_name": state.party(Role.MENTEE).name,
                "operator_name": operator.name if operator else "",
                "operator_email": operator.email if operator else "",
            },
        )
        contact = config.contacts.for_notification(notification)
        rendered = render(notification, recipient, contact)
        message = OutgoingMessage(notification=notification, recipient=recipient, rendered=rendered)
        await channels[name].send(message)

    return send
