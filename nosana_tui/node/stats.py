"""Each op's use of the machine (CPU, memory, network, disk), as a Nosana node serves it
(reference nosana.md §3, nosana-network.md §4.3): ``GET /job/{job}/stats`` answers a sample of
each running op now (``TaskStat[]``); ``GET /job/{job}/stats/stream`` sends, as server-sent
events, ``data: <TaskStat[]>`` every ``interval`` seconds with the latest sample of each running
op, taken from the engine's own stats stream of its container.

Where we differ from a node: there is no history (the agent samples only while someone asks), so
``start`` and ``end`` are not taken; the stream closes once the job has ended, was removed, or
the agent shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from nosana_tui.api.models import (
    CpuStat,
    DiskStat,
    JobView,
    MemoryStat,
    NetworkStat,
    OpStatus,
    TaskStat,
)
from nosana_tui.engine.backend import ContainerStats
from nosana_tui.node.agent import Agent

KEEPALIVE = 15.0  # seconds of no sample after which the stream sends a comment
FIRST_WAIT = 3.0  # seconds a frame waits for the first sample of an op just followed


def task_stat(op_id: str, sample: ContainerStats) -> TaskStat:
    return TaskStat(
        op_id=op_id,
        timestamp=int(sample.ts * 1000),
        cpu=CpuStat(cpu_percent=sample.cpu_percent),
        memory=MemoryStat(
            memory_usage=sample.memory_usage,
            memory_limit=sample.memory_limit,
            memory_percent=sample.memory_percent,
        ),
        disk=DiskStat(read=sample.disk_read, write=sample.disk_write),
        network=NetworkStat(received=sample.net_rx, sent=sample.net_tx),
    )


def running(view: JobView) -> dict[str, str]:
    """{op id: container id} of the job's running ops, in the job's order."""
    return {
        op.id: op.container_id
        for op in view.ops
        if op.status is OpStatus.RUNNING and op.container_id
    }


async def sample_job(agent: Agent, job_id: str) -> list[TaskStat]:
    """A sample of each running op of the job, taken side by side (about a second)."""
    targets = running(agent.job(job_id))
    samples = await asyncio.gather(*(agent.backend.stats(c) for c in targets.values()))
    return [task_stat(op, s) for op, s in zip(targets, samples, strict=True) if s is not None]


async def stream_job(
    agent: Agent, job_id: str, interval: float
) -> AsyncIterator[list[TaskStat] | None]:
    """Every INTERVAL seconds the latest sample of each running op, when one is new since the
    last; None after KEEPALIVE seconds without. Ends when the job is over (``stream_over``)."""
    job_id = agent.job(job_id).id
    loop = asyncio.get_running_loop()
    latest: dict[str, TaskStat] = {}
    fresh: set[str] = set()
    follows: dict[str, tuple[str, Callable[[], None], float]] = {}  # container, cancel, since

    def keep(op_id: str, container_id: str, stat: TaskStat) -> None:
        if follows.get(op_id, ("",))[0] == container_id:  # not a stream cancelled meanwhile
            latest[op_id] = stat
            fresh.add(op_id)

    def sink_for(op_id: str, container_id: str) -> Callable[[ContainerStats], None]:
        def sink(sample: ContainerStats) -> None:  # on the backend's thread
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(keep, op_id, container_id, task_stat(op_id, sample))

        return sink

    quiet = 0.0
    try:
        while True:
            over = agent.stream_over(job_id)
            targets = {} if over else running(agent.job(job_id))
            for op_id, (container_id, cancel, _since) in list(follows.items()):
                if targets.get(op_id) != container_id:
                    cancel()
                    del follows[op_id]
                    latest.pop(op_id, None)
                    fresh.discard(op_id)
            for op_id, container_id in targets.items():
                if op_id not in follows:
                    follows[op_id] = (
                        container_id,
                        agent.backend.follow_stats(container_id, sink_for(op_id, container_id)),
                        time.monotonic(),
                    )
            if over:
                return
            await _wait(agent.closing, interval)
            newest = max((since for _c, _x, since in follows.values()), default=0.0)
            if any(op not in latest for op in targets) and time.monotonic() - newest < FIRST_WAIT:
                continue  # an op's first sample is on its way: a frame with all of them
            if fresh:
                fresh.clear()
                quiet = 0.0
                yield [latest[op] for op in targets if op in latest]
            else:
                quiet += interval
                if quiet >= KEEPALIVE:
                    quiet = 0.0
                    yield None
    finally:
        for _container, cancel, _since in follows.values():
            cancel()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
