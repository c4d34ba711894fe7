"""A container that the engine restarts (its restart policy) before the agent has looked at why
it died: on a busy machine the ``start`` event arrives while the agent is still inspecting the
``die``. The restart is counted all the same, and the op ends with every restart counted.

Found in a full test run: ``on-failure`` with two tries ended with ``restarts == 1``. Here the
agent runs in this process over the real engine, with its ``inspect`` made slow on purpose
(one second) so that the race happens every time.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from nosana_tui.api.models import OpStatus
from nosana_tui.backends.docker import DockerBackend
from nosana_tui.engine.backend import ContainerState
from nosana_tui.host import gpus as gpu_host
from nosana_tui.node.agent import Agent
from nosana_tui.node.gpus import GpuMonitor
from tests.dockerenv import ensure_docker
from tests.node.conftest import job, run_op

pytestmark = pytest.mark.anyio


class SlowToLook(DockerBackend):
    """The real backend, with an agent too busy to inspect a container in under a second."""

    async def inspect(self, container_id: str) -> ContainerState | None:
        await asyncio.sleep(1.0)
        return await super().inspect(container_id)


async def test_a_restart_faster_than_the_agent_looks_is_counted(tmp_path: Path) -> None:
    ensure_docker()
    backend = SlowToLook(agent_id=f"race-{uuid.uuid4().hex[:8]}")
    monitor = GpuMonitor(discover=lambda: gpu_host.Discovery("none", [], "not needed here"))
    agent = Agent(tmp_path, backend, gpu_monitor=monitor)
    await agent.startup()
    try:
        crasher = run_op(
            "crasher",
            "echo run; sleep 0.3; exit 1",
            args={"restart_policy": {"policy": "on-failure", "restart_tries": 2}},
        )
        view = await agent.submit(job(crasher))
        for _ in range(300):
            if agent.job(view.id).status.terminal:
                break
            await asyncio.sleep(0.1)
        op = agent.job(view.id).op("crasher")
        assert op.status is OpStatus.FAILED and op.exit_code == 1, op
        assert op.restarts == 2, op
        agent.store.flush()
        log = [e.text for e in agent.store.logs(view.id, "system")]
        assert sum("restarted by its restart policy" in line for line in log) == 2, log
    finally:
        await agent.remove(view.id)
        await agent.shutdown()
