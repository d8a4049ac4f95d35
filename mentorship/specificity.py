"""Is a piece of feedback specific, about behaviour, and actionable?

The program asks mentors for feedback that names a behaviour, not a personality, and offers
a pathway. These checks catch the common ways feedback goes vague, so the participant is asked
to rewrite it rather than the mentee receiving "good job, keep it up".
"""

from __future__ import annotations

import re

_VAGUE = {
    "good job",
    "great job",
    "well done",
    "keep it up",
    "keep going",
    "do better",
    "be better",
    "try harder",
    "nice work",
    "good work",
    "great work",
    "all good",
    "fine",
    "ok",
    "okay",
    "n/a",
    "none",
    "nothing",
}
_PERSONALITY = re.compile(
    r"\b(you are|you're|he is|she is|they are)\s+(so\s+|too\s+|very\s+|just\s+)?"
    r"(lazy|stupid|smart|shy|arrogant|rude|annoying|difficult|weak|bad|naturally|a natural|"
    r"not a|hopeless|careless|talented|introverted|extroverted|emotional|negative)\b",
    re.IGNORECASE,
)
MIN_WORDS = 4


def vagueness(text: str) -> str | None:
    """The reason this text is too vague for feedback, or None when it is specific enough."""
    cleaned = " ".join(text.lower().strip(" .!?").split())
    if cleaned in _VAGUE:
        return f"'{text.strip()}' is too vague; describe what was done and its effect"
    if len(cleaned.split()) < MIN_WORDS:
        return (
            f"'{text.strip()}' is too short to act on; use at least {MIN_WORDS} words "
            "naming a concrete behaviour or situation"
        )
    if _PERSONALITY.search(text):
        return (
            f"'{text.strip()}' describes a personality, not a behaviour; say what the person "
            "did and what to do differently"
        )
    return None
