"""The agent when its Docker engine fails under it: dockerd stopped and started again while ops
run, and no address pool left for another job's network. A real agent process over an engine
of the test's own (tests/backends/second_engine.py), so the shared engine never sees these.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.client.node import NodeError, job_done
from tests.backends.second_engine import SecondEngine
from tests.node.conftest import AgentProcess, free_port, job, run_op, wait_for

pytestmark = pytest.mark.anyio

NO_POOL = "Docker has no free address pool for another network"


@dataclass
class AgentOnEngine(AgentProcess):
    """An agent process whose Docker engine is ``docker_host``."""

    docker_host: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "DOCKER_HOST": self.docker_host}


def agent_on(engine: SecondEngine, root: Path) -> AgentOnEngine:
    port = free_port()
    agent = AgentOnEngine(
        f"http://127.0.0.1:{port}", port, root / "config", root / "data", docker_host=engine.url
    )
    agent.data_dir.mkdir(parents=True)
    agent.start()
    return agent


@contextlib.contextmanager
def agent_over(
    root: Path, pool_networks: int | None = None
) -> Iterator[tuple[SecondEngine, AgentOnEngine]]:
    """A second engine (``pool_networks`` networks fit, None: Docker's default pools) and an
    agent over it; both gone afterwards."""
    engine = SecondEngine(pool_networks)
    agent = None
    try:
        agent = agent_on(engine, root)
        yield engine, agent
    finally:
        if agent is not None:
            agent.stop()
        engine.close()


@pytest.fixture
def restartable(
    docker_engine: None, tmp_path: Path
) -> Iterator[tuple[SecondEngine, AgentOnEngine]]:
    with agent_over(tmp_path) as pair:
        yield pair


@pytest.fixture
def two_networks(
    docker_engine: None, tmp_path: Path
) -> Iterator[tuple[SecondEngine, AgentOnEngine]]:
    with agent_over(tmp_path, pool_networks=2) as pair:
        yield pair


async def test_dockerd_restarted_under_running_ops(
    restartable: tuple[SecondEngine, AgentOnEngine],
) -> None:
    """dockerd stops (its containers die with it, no live restore) and starts again: the agent
    answers clearly meanwhile, then finds out what happened and ends every op with its real
    exit code; nothing hangs, and new jobs run."""
    engine, agent = restartable
    async with agent.client() as client:
        view = await client.submit(
            job(
                run_op("ticker", "while true; do echo tick; sleep 0.2; done", group="g"),
                run_op("sleeper", "sleep 600", group="g"),
            )
        )
        await wait_for(client, view.id, lambda v: all(o.status is OpStatus.RUNNING for o in v.ops))
        engine.stop()
        with pytest.raises(NodeError) as refused:
            await client.info()
        assert refused.value.status == 503
        assert "does not answer" in str(refused.value), refused.value
        info = subprocess.run(
            [sys.executable, "-m", "nosana_tui", "node", "info"],
            env=agent.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert info.returncode == 1 and "Traceback" not in info.stderr, info.stderr
        assert "does not answer" in info.stderr, info.stderr
        engine.start()
        ended = await wait_for(client, view.id, job_done, timeout=60)
        assert ended.status is JobStatus.FAILED
        for op in ended.ops:
            assert op.status is OpStatus.FAILED, op
            assert op.exit_code is not None and op.exit_code != 0, op
        again = await client.submit(job(run_op("hello", "echo after the restart")))
        done = await wait_for(client, again.id, job_done, timeout=60)
        assert done.status is JobStatus.SUCCESS, done
        for j in (view.id, again.id):
            await client.remove(j)


async def test_no_network_left_fails_the_job_and_finished_jobs_give_theirs_back(
    two_networks: tuple[SecondEngine, AgentOnEngine],
) -> None:
    """The engine's pool holds two networks. Two running jobs hold them; a third job fails at
    once, saying what to do (it used to stay running with a pending op for ever). When a job
    ends its network is given back, so the next job runs."""
    _, agent = two_networks
    async with agent.client() as client:
        holders = [await client.submit(job(run_op("s", "sleep 600"))) for _ in range(2)]
        for held in holders:
            await wait_for(client, held.id, lambda v: v.op("s").status is OpStatus.RUNNING)
        third = await client.submit(job(run_op("hello", "echo hi")))
        failed = await wait_for(client, third.id, job_done, timeout=30)
        assert failed.status is JobStatus.FAILED
        assert NO_POOL in failed.message, failed.message
        assert "nosana-tui rm" in failed.message
        assert failed.op("hello").status is OpStatus.STOPPED
        assert failed.op("hello").message.startswith("never started")
        await client.stop_job(holders[0].id)
        await wait_for(client, holders[0].id, job_done)
        fourth = await client.submit(job(run_op("hello", "echo hi")))
        done = await wait_for(client, fourth.id, job_done, timeout=30)
        assert done.status is JobStatus.SUCCESS, done
        for j in await client.jobs():
            await client.remove(j.id)
