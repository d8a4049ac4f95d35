"""A real SMTP relay on loopback that takes its time over DATA, for the exactly-once tests.

`SlowRelay(delay=7)` reads each message and answers 250 only `delay` seconds later;
`SlowRelay(hang=True)` reads it and never answers, until its client gives up and hangs up.
`recover()` makes it answer every later message at once. Per (notification key, address) it
counts what it *received* (the message arrived) and what it *accepted* (it answered 250 to a
client still connected: it took responsibility, RFC 5321 4.1.1.4), and the most copies of one
message it held at the same time: more than one means two attempts transmitted at once.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fault_rig import free_port

Ident = tuple[str, str]  # (notification key, recipient address)


@dataclass
class SlowRelay:
    delay: float = 0.0
    hang: bool = False
    port: int = field(default_factory=free_port)
    received: Counter[Ident] = field(default_factory=Counter)
    accepted: Counter[Ident] = field(default_factory=Counter)
    most_at_once: Counter[Ident] = field(default_factory=Counter)
    message_ids: dict[Ident, set[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    _holding: Counter[Ident] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def sender_settings(self) -> dict[str, str | int]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none"}

    def recover(self) -> None:
        """From now on every message is accepted at once (those already hanging stay so)."""
        self.delay, self.hang = 0.0, False

    def total_accepted(self) -> int:
        return sum(self.accepted.values())

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        key = str(message["X-Mentorflow-Key"])
        idents = [(key, address.lower()) for address in envelope.rcpt_tos]
        hang, delay = self.hang, self.delay
        with self._lock:
            self.kinds[key] = str(message["X-Mentorflow-Kind"])
            for ident in idents:
                self.received[ident] += 1
                self._holding[ident] += 1
                self.most_at_once[ident] = max(self.most_at_once[ident], self._holding[ident])
                self.message_ids.setdefault(ident, set()).add(str(message["Message-ID"]))
        try:
            if hang:
                await asyncio.Event().wait()  # until the client hangs up: aiosmtpd cancels us
            elif delay:
                await asyncio.sleep(delay)
        finally:
            with self._lock:
                for ident in idents:
                    self._holding[ident] -= 1
        with self._lock:
            for ident in idents:
                self.accepted[ident] += 1
        return "250 OK queued"

    @contextmanager
    def serving(self) -> Iterator[SlowRelay]:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        try:
            yield self
        finally:
            self._controller.stop()
            self._controller = None
