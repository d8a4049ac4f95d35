"""`python -m worker`: the worker alone, configured from the environment.

The same as `mentorflow worker`, without the command line around it. Exit codes: 0 after a
clean stop (SIGTERM or Ctrl-C, in-flight work finished), 2 on a bad setting, 1 when
Temporal cannot be reached.
"""

from __future__ import annotations

import asyncio
import sys

from worker.main import SettingsError, WorkerStartError, load_settings, run_worker


def main() -> int:
    try:
        settings = load_settings()
        asyncio.run(run_worker(settings))
    except SettingsError as err:
        print(f"mentorflow worker: bad setting: {err}", file=sys.stderr)
        return 2
    except WorkerStartError as err:
        print(f"mentorflow worker: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
