"""Reading Temporal's own histories: what a relationship cost the engine, run by run."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.baseline import Plan, Step

_UPDATE = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
_UPDATE_DONE = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
_TASK = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
_ACTIVITY = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
_MARKER = EventType.EVENT_TYPE_MARKER_RECORDED  # a local activity's result
_TIMER = EventType.EVENT_TYPE_TIMER_STARTED
_UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES


@dataclass
class RunStats:
    """One run of a workflow id; a continue-as-new chain has several."""

    run_id: str
    events: int
    workflow_tasks: int
    activities: int
    local_activities: int
    timers: int
    updates: int
    upserts: int

    @classmethod
    def of(cls, history: WorkflowHistory) -> RunStats:
        types = [e.event_type for e in history.events]
        return cls(
            run_id=history.run_id,
            events=len(types),
            workflow_tasks=types.count(_TASK),
            activities=types.count(_ACTIVITY),
            local_activities=types.count(_MARKER),
            timers=types.count(_TIMER),
            updates=types.count(_UPDATE),
            upserts=types.count(_UPSERT),
        )


@dataclass
class ChainStats:
    runs: list[RunStats] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.runs)

    @property
    def largest_run(self) -> int:
        return max((r.events for r in self.runs), default=0)


async def run_chain(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow id, oldest first, walking back from the latest run through
    each first event's `continued_execution_run_id`."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        first = history.events[0].workflow_execution_started_event_attributes
        run_id = first.continued_execution_run_id or None
        if run_id is None:
            return list(reversed(histories))


async def chain_stats(client: Client, workflow_id: str) -> ChainStats:
    return ChainStats([RunStats.of(h) for h in await run_chain(client, workflow_id)])


@dataclass
class Shape:
    """A project workflow's Temporal work: the floor's plan, and the update steps to send."""

    plan: Plan
    steps: list[Step]

    @property
    def activities(self) -> int:
        return sum(s.activities for s in [self.plan.on_start, *self.steps])


def shape_of(histories: list[WorkflowHistory]) -> Shape:
    """The same Temporal work without the domain. An activity scheduled while an update is
    open is one that update waits for; any other is charged, left running, to the start or
    the update before it (timer-driven ones to the last update). Every timer the project
    started becomes one timer of the floor."""
    start = Step()
    updates: list[Step] = []
    timers = 0
    for history in histories:
        current = start
        open_updates: dict[int, Step] = {}
        for event in history.events:
            kind = event.event_type
            waiting = list(open_updates.values())[-1] if open_updates else None
            if kind == _UPDATE:
                current = Step()
                updates.append(current)
                open_updates[event.event_id] = current
            elif kind == _UPDATE_DONE:
                accepted = event.workflow_execution_update_completed_event_attributes
                open_updates.pop(accepted.accepted_event_id, None)
            elif kind == _MARKER:
                (waiting or current).local += 1
            elif kind == _ACTIVITY and waiting is not None:
                waiting.awaited += 1
            elif kind == _ACTIVITY:
                current.detached += 1
            elif kind == _TIMER:
                timers += 1
    return Shape(Plan(on_start=start, updates=len(updates), timers=timers), updates)
