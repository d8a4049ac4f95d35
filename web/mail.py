"""The one message the portal sends itself: an operator's sign-in link, by email where the
program has a relay, else into the outbox like every other message."""

from __future__ import annotations

import secrets

from activities.channels import ChannelsConfig, OutgoingMessage
from activities.delivery import build_channels
from activities.rendering import render
from mentorship.notifications import Notification, NotificationKind, Recipient
from mentorship.participants import Channel as ChannelName
from mentorship.participants import Participant, Role
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
