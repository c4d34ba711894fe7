"""The agent's stream of a job's state (``Agent.changes``, served as ``/job/{job}/info``) when
the job changes while the stream's reader still handles the last state (the generator waits at
its ``yield``, so the change's notification finds nobody waiting): the change is sent at once,
and a job that ended meanwhile has its last state sent before the stream ends. Before, the first
waited for the keep-alive (15 s) and the second was never sent: ``run --wait`` then said "the
job stream ended". Found while looking into issue 13, finding 7 (not its cause)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nosana_tui.api.models import JobStatus, JobView
from nosana_tui.engine.runner import JobRunner
from nosana_tui.jobformat import model as m
from nosana_tui.node.agent import Agent

pytestmark = pytest.mark.anyio

KEEPALIVE = 60.0  # longer than any wait below: what comes, comes because of the change
WAIT = 5.0

DEFINITION = m.JobDefinition.model_validate(
    {
        "version": "0.1",
        "type": "container",
        "ops": [{"type": "container/run", "id": "a", "args": {"image": "busybox", "cmd": "true"}}],
    }
)


class Runner:
    """What ``changes`` reads of a job's runner."""

    def __init__(self, view: JobView) -> None:
        self.id = view.id
        self.view = view
        self.ops: dict[str, object] = {}
        self.ended = False

    def done(self) -> bool:
        return self.ended


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    agent = Agent(tmp_path, backend=None)  # type: ignore[arg-type]  # changes never uses it
    yield agent
    agent.store.close()
    await agent.http.aclose()


def running(agent: Agent) -> Runner:
    runner = Runner(JobRunner.new_view("job1", DEFINITION, "job", ""))
    agent.runners = {runner.id: runner}  # type: ignore[dict-item]
    return runner


async def change(agent: Agent, runner: Runner, **update: object) -> None:
    runner.view = runner.view.model_copy(update=update)
    agent._changed(runner.view)
    await asyncio.sleep(0.05)  # its notification runs: nobody waits on the stream's condition


async def test_a_change_while_the_last_state_is_handled_comes_at_once(agent: Agent) -> None:
    runner = running(agent)
    stream = agent.changes(runner.id, keepalive=KEEPALIVE)
    assert (await anext(stream)).message == ""
    await change(agent, runner, message="pulling")
    try:
        view = await asyncio.wait_for(anext(stream), WAIT)
    except TimeoutError:
        raise AssertionError(f"the change was not sent within {WAIT:g} s") from None
    assert view is not None and view.message == "pulling"
    await stream.aclose()


async def test_a_job_that_ends_while_the_last_state_is_handled_sends_its_end(
    agent: Agent,
) -> None:
    runner = running(agent)
    stream = agent.changes(runner.id, keepalive=KEEPALIVE)
    assert (await anext(stream)).status is JobStatus.RUNNING
    runner.ended = True
    await change(agent, runner, status=JobStatus.SUCCESS)
    sent = [view async for view in stream]
    assert [v.status if v else None for v in sent] == [JobStatus.SUCCESS]
