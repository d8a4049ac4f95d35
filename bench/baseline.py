"""The floor Temporal sets: a workflow with no domain in it, doing only the Temporal work.

Each benchmark measures the project's shape (updates, local and remote activities, timers)
and asks `FloorWorkflow` to do exactly that much, so the ratio isolates what the domain,
its payloads and its bookkeeping cost on top of the engine. Kept free of project imports:
the sandbox re-imports this module for every run, and the floor must stay a floor.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

FLOOR_RECORD = "floor_record"
FLOOR_SEND = "floor_send"


@dataclass
class Step:
    """What one trigger (the start, or one update) does: local activities and activities it
    waits for, in order, then activities it starts and leaves running."""

    local: int = 0
    awaited: int = 0
    detached: int = 0

    @property
    def activities(self) -> int:
        return self.local + self.awaited + self.detached


@dataclass
class Plan:
    on_start: Step = field(default_factory=Step)
    updates: int = 0  # the run ends once this many updates have been handled
    timers: int = 0
    timer_every: timedelta = timedelta(days=1)
    stay_open: bool = False  # for the memory benchmark: wait forever, cached


@activity.defn(name=FLOOR_RECORD)
async def floor_record(count: int) -> int:
    return count


@activity.defn(name=FLOOR_SEND)
async def floor_send(key: str) -> None:
    return None


@workflow.defn
class FloorWorkflow:
    @workflow.init
    def __init__(self, plan: Plan) -> None:
        self._handled = 0
        self._in_flight = 0

    @workflow.run
    async def run(self, plan: Plan) -> int:
        await self._do(plan.on_start)
        for _ in range(plan.timers):
            await workflow.sleep(plan.timer_every)
        await workflow.wait_condition(
            lambda: (
                not plan.stay_open
                and self._handled >= plan.updates
                and self._in_flight == 0
                and workflow.all_handlers_finished()
            )
        )
        return self._handled

    @workflow.update
    async def step(self, step: Step) -> int:
        await self._do(step)
        self._handled += 1
        return self._handled

    @workflow.query
    def handled(self) -> int:
        return self._handled

    async def _do(self, step: Step) -> None:
        for _ in range(step.local):
            await workflow.execute_local_activity(
                FLOOR_RECORD, 1, start_to_close_timeout=timedelta(seconds=30)
            )
        for _ in range(step.awaited):
            await workflow.execute_activity(
                FLOOR_SEND, "k", start_to_close_timeout=timedelta(minutes=2)
            )
        for _ in range(step.detached):
            self._in_flight += 1
            asyncio.create_task(self._send())  # noqa: RUF006 counted by _in_flight

    async def _send(self) -> None:
        try:
            await workflow.execute_activity(
                FLOOR_SEND, "k", start_to_close_timeout=timedelta(minutes=2)
            )
        finally:
            self._in_flight -= 1
