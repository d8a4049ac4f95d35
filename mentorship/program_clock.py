"""Program time: where a moment of the engine's clock falls when a relationship runs fast.

`time_scale` compresses every span the lifecycle waits; a person reads times on the program's
clock, which starts with the relationship and runs `time_scale` times faster.
"""

from __future__ import annotations

from datetime import datetime


def program_moment(started_at: datetime | None, time_scale: float, moment: datetime) -> datetime:
    if time_scale == 1.0 or started_at is None:
        return moment
    return started_at + (moment - started_at) * time_scale
