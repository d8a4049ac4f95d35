"""How emails are serialised: headers folded at spaces, 8-bit bodies only where the relay
said it takes them.

The standard library's folder puts an ASCII header that fits on a line of its own on the
next line, leaving "Subject:" empty (RFC 5322 allows it; mail clients show it badly). ASCII
unstructured headers are folded here instead, at word boundaries; the rest (addresses,
encoded words) keeps the library's folding.
"""

from __future__ import annotations

import textwrap
from email.policy import EmailPolicy
from typing import Any

_UNSTRUCTURED = frozenset({"subject", "comments"})


class MailPolicy(EmailPolicy):
    def fold(self, name: str, value: Any) -> str:
        text = str(value)
        if name.lower() in _UNSTRUCTURED and text.isascii() and "\n" not in text:
            return _fold_at_spaces(name, text, self.max_line_length or 78, self.linesep)
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        text = str(value)
        if name.lower() in _UNSTRUCTURED and text.isascii() and "\n" not in text:
            folded = _fold_at_spaces(name, text, self.max_line_length or 78, self.linesep)
            return folded.encode("ascii")
        return bytes(super().fold_binary(name, value))


def _fold_at_spaces(name: str, text: str, width: int, linesep: str) -> str:
    lines = textwrap.wrap(
        f"{name}: {' '.join(text.split())}",
        width=width,
        subsequent_indent=" ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return linesep.join(lines) + linesep


EIGHT_BIT = MailPolicy()
# For a relay that does not offer 8BITMIME: non-ASCII parts go quoted-printable or base64.
SEVEN_BIT = MailPolicy(cte_type="7bit")
