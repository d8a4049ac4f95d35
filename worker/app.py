"""The worker process: the workflow, its activities, and the sandbox set up to stay small."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.channels import ChannelsConfig, SmtpConfig, WebhookConfig
from activities.delivery import Deliverer, LinkFor
from activities.lifecycle import LifecycleActivities
from ledger.checkpoints import CheckpointStore
from ledger.store import Ledger
from mentorship.notifications import Notification, Recipient
from web.links import PARTICIPANT_ROLES, Claim, links_from
from worker.settings import Settings
from workflows.mentorship_workflow import MentorshipWorkflow

# Modules every workflow run uses, loaded once for the process instead of once per run;
# left inside the sandbox each cached workflow would carry its own copy (megabytes each).
# `workflows` too: re-imported per run, the workflow module alone cost ~90 KiB of every
# cached relationship (bench/memory.py: 203 -> 110 KiB, the floor's figure). It holds no
# mutable module state, and its determinism is guarded by the replay and no-cache tests
# rather than by the sandbox's per-run import.
PASSTHROUGH: tuple[str, ...] = (
    "mentorship",
    "workflows",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "structlog",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def channels_config(settings: Settings) -> ChannelsConfig:
    smtp = None
    if settings.smtp_host:
        smtp = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_sender,
        )
    webhook = None
    if settings.webhook_secret is not None:
        webhook = WebhookConfig(default_url=settings.webhook_url, secret=settings.webhook_secret)
    return ChannelsConfig(
        outbox_path=settings.resolved_outbox,
        smtp=smtp,
        webhook=webhook,
        contacts=settings.contacts,
    )


def link_for(settings: Settings) -> LinkFor | None:
    """Each participant's personal link in their notifications, where the portal has keys."""
    links = links_from(settings)
    if links is None:
        return None

    def personal(notification: Notification, recipient: Recipient) -> str | None:
        if recipient.role not in PARTICIPANT_ROLES:
            return None
        claim = Claim(
            relationship_id=notification.relationship_id,
            person_id=recipient.person.id,
            role=recipient.role,
        )
        return links.url(claim)

    return personal


def lifecycle_activities(settings: Settings, ledger: Ledger) -> LifecycleActivities:
    deliverer = Deliverer(channels_config(settings), ledger, link_for=link_for(settings))
    checkpoints = CheckpointStore(settings.resolved_checkpoint_dir)
    return LifecycleActivities(ledger, deliverer, checkpoints=checkpoints)


def build_worker(
    client: Client,
    settings: Settings,
    activities: LifecycleActivities,
    *,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[MentorshipWorkflow],
        activities=[activities.record_events, activities.send_notification],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_local_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        activity_executor=executor,
        graceful_shutdown_timeout=timedelta(seconds=30),
    )
