"""``s`` in the job screen, in a real terminal (a pseudo-terminal at 80x24) against the real agent
and Docker: the UI lends the terminal to a shell in the running op, the shell answers what is
typed, and ``exit`` gives the terminal back to the UI, which says how the shell ended (issue 13).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from nosana_tui.api.models import OpStatus
from nosana_tui.client.node import NodeClient
from tests.node.conftest import job, run_op
from tests.ui.test_terminal import Terminal, terminal

__all__ = ["terminal"]


async def _start(port: int, token: str) -> str:
    async with NodeClient(f"http://127.0.0.1:{port}", token) as client:
        view = await client.submit(job(run_op("idle", "sleep 300")), name="shell-test")
        await asyncio.wait_for(
            client.wait(view.id, lambda v: v.op("idle").status is OpStatus.RUNNING), 60
        )
        return view.id


async def _remove(port: int, token: str, job_id: str) -> None:
    async with NodeClient(f"http://127.0.0.1:{port}", token) as client:
        await client.remove(job_id)


def test_s_opens_a_shell_in_the_running_op_and_the_ui_comes_back(
    docker_engine: None, terminal: Terminal, tmp_path: Path
) -> None:
    terminal.read_until("online", timeout=40)
    token = (tmp_path / "config" / "token").read_text().strip()
    job_id = asyncio.run(_start(terminal.port, token))
    try:
        os.write(terminal.fd, b"2")
        terminal.read_until(job_id)
        os.write(terminal.fd, b"\r")
        terminal.read_until(f"{job_id} · system")
        terminal.read_until("running")
        os.write(terminal.fd, b"s")  # the graph has the focus, on the job's one op
        terminal.read_until(f"sh in op idle of job {job_id}", timeout=30)
        terminal.read_until("#", timeout=30)  # root's prompt in busybox
        os.write(terminal.fd, b"echo $((6*7))\r")
        terminal.read_until("42")
        os.write(terminal.fd, b"exit 5\r")
        terminal.read_until("shell in idle ended with exit code 5", timeout=30)
        time.sleep(0.2)
        terminal.read_until("esc Back")  # the job screen again, drawn whole
    finally:
        asyncio.run(_remove(terminal.port, token, job_id))
    os.write(terminal.fd, b"q")
    assert os.WIFEXITED(terminal.wait_exit(10))
    assert b"Traceback" not in terminal.output
