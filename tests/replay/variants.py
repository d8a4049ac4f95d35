"""Workflow changes made without `workflow.patched`, which the replay corpus must catch.

Each variant registers under the production workflow's name, as a careless edit of
MentorshipWorkflow would. They live in a module of their own because the sandbox re-imports
a workflow's module to run it, and a test module drags pytest in with it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.mentorship_workflow import MentorshipWorkflow

with workflow.unsafe.imports_passed_through():  # the same classes the workflow module uses
    from mentorship import commands as c
    from mentorship import events as ev
    from mentorship.decider import Decider, Outcome
    from workflows.contract import RelationshipInput, RelationshipResult


@workflow.defn(name="MentorshipWorkflow")
class GraceTimerFirst(MentorshipWorkflow):
    """Someone adds a short timer before the lifecycle starts: every history diverges."""

    @workflow.run
    async def run(self, input: RelationshipInput) -> RelationshipResult:
        await workflow.sleep(timedelta(minutes=1))
        return await super().run(input)


@workflow.defn(name="MentorshipWorkflow")
class NeverContinuesAsNew(MentorshipWorkflow):
    """Someone stops continuing as new at review boundaries: exactly the runs that did diverge."""

    @workflow.run
    async def run(self, input: RelationshipInput) -> RelationshipResult:
        return await super().run(input)

    def _ready_to_continue(self) -> bool:
        return False


@workflow.defn(name="MentorshipWorkflow")
class ExtraEventOnMeetingLog(MentorshipWorkflow):
    """Someone makes logging a meeting decide one more event, without `workflow.patched`.

    Temporal's history does not hold the events (only the ledger write's input does, which
    replay does not compare), so only the chain head the ledger returned can catch this.
    """

    @workflow.run
    async def run(self, input: RelationshipInput) -> RelationshipResult:
        return await super().run(input)

    def _decide(self, cmd: c.Command) -> Outcome:
        outcome = super()._decide(cmd)
        if not isinstance(cmd, c.LogMeeting):
            return outcome
        d = Decider(outcome.state, workflow.now())
        d.emit(ev.ReminderSent(purpose="thank you for logging", ref="log-thanks", to=[]))
        extra = d.outcome()
        return Outcome(
            state=extra.state,
            recorded=[*outcome.recorded, *extra.recorded],
            notifications=outcome.notifications,
        )
