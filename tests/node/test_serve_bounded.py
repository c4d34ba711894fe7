"""The agent's process ends when its work is done, not when every engine call still running in
a thread has answered (a pull can take minutes): ``asyncio.run`` and Python's exit both wait
for them. Found by review: SIGTERM during a slow pull took the agent 24 s to exit, holding the
data folder's lock, so the agent started next exited with code 3."""

from __future__ import annotations

import subprocess
import sys

from nosana_tui.api.models import JobStatus, JobView, OpStatus, OpView
from nosana_tui.client.node import job_ready

SCRIPT = """
import asyncio, time
from nosana_tui.node.serve import _run_bounded, exit_now_if_threads_linger

async def main():
    asyncio.get_running_loop().run_in_executor(None, time.sleep, 600)  # a pull that hangs
    await asyncio.sleep(0.1)

_run_bounded(main())
print("served", flush=True)
exit_now_if_threads_linger(0)
"""


def test_the_agent_process_does_not_wait_for_engine_calls_in_threads() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "served\n"


def test_a_wait_for_ready_ends_with_the_job() -> None:
    """A served op stopped with its job (stop_if_dependent_stops) is never ready again: the
    wait ends because the job has."""
    view = JobView(
        id="j",
        name="j",
        created_at=0,
        status=JobStatus.SUCCESS,
        ops=[
            OpView(id="srv", index=0, group="g", type="container/run", status=OpStatus.STOPPED),
            OpView(id="cli", index=1, group="g", type="container/run", status=OpStatus.FINISHED),
        ],
    )
    assert job_ready(view)
