"""A message that can never be delivered reaches the operator and never blocks the lifecycle."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from ledger.store import Ledger
from tests.factories import ALICE, commitment, goals, request
from tests.lifecycle import Lifecycle
from tests.test_channels import SECRET, WebhookReceiver, hooked, http_peer  # noqa: F401
from worker.app import build_worker, lifecycle_activities
from worker.settings import Settings


async def test_a_permanent_delivery_failure_is_recorded_and_the_operator_is_told(
    time_env: WorkflowEnvironment,
    settings: Settings,
    http_peer: Callable[..., WebhookReceiver],  # noqa: F811
) -> None:
    refusing = http_peer(script=[400] * 20)
    hooked_settings = settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    ledger = Ledger.from_url(hooked_settings.resolved_ledger_url)
    activities = lifecycle_activities(hooked_settings, ledger)
    async with build_worker(time_env.client, hooked_settings, activities):
        life = Lifecycle(time_env, hooked_settings, ledger)
        pair = await life.start(request(mentor=hooked(ALICE, refusing.url())))
        await pair.do(goals())
        await pair.do(commitment())  # the lifecycle goes on without the mentor's welcome
        await life.close()
    welcome = f"{pair.id}:welcome:mentor"
    [record] = ledger.deliveries(welcome)
    assert record.status == "failed" and "400" in record.detail
    told = [m for m in pair.outbox() if m["kind"] == "delivery_failed"]
    assert [m["recipient_role"] for m in told] == ["operator"]
    assert len(refusing.hits) == 1, "a permanent failure is not retried"
    mentee_welcome = [m for m in pair.outbox() if m["kind"] == "welcome"]
    assert [m["recipient_role"] for m in mentee_welcome] == ["mentee"]
    ledger.dispose()
