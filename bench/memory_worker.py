"""A worker in a process of its own, so the memory benchmark can read its RSS from outside.

`python -m bench.memory_worker VARIANT ADDRESS TASK_QUEUE FOLDER CACHE` runs until its stdin
closes. VARIANT is `project` (the worker as `mentorflow worker` builds it), `floor` (the
minimal workflow, same runner and tuning) or `unpassed` (the project with the domain left
inside the sandbox: every cached run then imports its own copy of `mentorship`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

VARIANTS = ("project", "floor", "unpassed")


def _leave_domain_in_sandbox() -> None:
    """What forgetting the passthrough looks like: the workflow module's
    `imports_passed_through()` block does nothing, and neither `mentorship` nor `workflows`
    is on the list, so every run imports the domain afresh."""
    from temporalio import workflow

    import worker.app

    ours = ("mentorship", "workflows")
    workflow.unsafe.imports_passed_through = staticmethod(contextlib.nullcontext)  # type: ignore[assignment]
    worker.app.PASSTHROUGH = tuple(m for m in worker.app.PASSTHROUGH if m not in ours)


async def serve(variant: str, address: str, task_queue: str, folder: Path, cache: int) -> None:
    from temporalio.client import Client

    from bench.common import bench_settings, floor_worker, project_worker, quiet_logs
    from worker.temporal import data_converter

    quiet_logs()
    if variant == "unpassed":
        _leave_domain_in_sandbox()
    client = await Client.connect(address, data_converter=data_converter())
    settings = bench_settings(folder, task_queue=task_queue, max_cached_workflows=cache)
    running = floor_worker if variant == "floor" else project_worker
    async with running(client, settings):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    variant, address, task_queue, folder, cache = sys.argv[1:6]
    if variant not in VARIANTS:
        raise SystemExit(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    asyncio.run(serve(variant, address, task_queue, Path(folder), int(cache)))


if __name__ == "__main__":
    main()
