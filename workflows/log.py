"""Structured logs from workflow code that stay quiet while a run is being replayed."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import structlog

_log = structlog.get_logger("mentorflow.workflow")


def log(event: str, **fields: Any) -> None:
    if workflow.unsafe.is_replaying():
        return
    info = workflow.info()
    _log.info(event, relationship_id=info.workflow_id, run_id=info.run_id, **fields)
