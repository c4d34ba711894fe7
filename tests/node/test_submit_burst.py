"""A probe: issue 13, finding 7 ("2 of ~20 submissions stayed 'submitted' for ever with no error,
intermittent") does not come from submitting many jobs as such. Twenty jobs are posted to a real
agent at once, and twenty as fast as one client can one after another; each must end with its op
finished and its stage logged. The probe ran 5 times on this two-core shared machine (each way,
2026-12-01): every job ended every time. If it ever fails, its message says which jobs stayed in
which state (job status, each op's status, the last line of the job's system log).

The cause found is what else those jobs did: image pulls held the agent's pool of engine threads
(a registry that stops answering, for ever), and a job submitted then waited for a thread for its
first engine call; ``test_stalled_pulls`` shows it and guards the fix."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from nosana_tui.api.models import JobStatus, JobView
from nosana_tui.client.node import NodeClient, job_done
from tests.node.conftest import job, run_op, system_log

pytestmark = pytest.mark.anyio

JOBS = 20
# seconds for all twenty echo jobs to end; each test took 16-23 s in all (submit, wait, remove)
# in the five runs on the busy two-core machine
BOUND = 30


def state(view: JobView) -> str:
    ops = ", ".join(f"{op.id} {op.status.value}" for op in view.ops)
    return f"job {view.status.value}; ops: {ops}"


async def stayed(client: NodeClient, ids: list[str]) -> dict[str, list[str]]:
    """Each state a job is in that is not its end, and the jobs in it (with their last system
    log line)."""
    out: dict[str, list[str]] = defaultdict(list)
    for view in await asyncio.gather(*(client.job(job_id) for job_id in ids)):
        if not job_done(view):
            lines = await system_log(client, view.id)
            out[state(view)].append(f"{view.id} (last logged: {lines[-1] if lines else None!r})")
    return dict(out)


async def probe(client: NodeClient, ids: list[str]) -> None:
    waits = asyncio.gather(*(client.wait(job_id, job_done) for job_id in ids))
    try:
        views = await asyncio.wait_for(waits, BOUND)
    except TimeoutError:
        left = await stayed(client, ids)
        raise AssertionError(
            f"issue 13 finding 7 reproduced? after {BOUND} s, {sum(map(len, left.values()))} of "
            f"{len(ids)} jobs had not ended: {left}"
        ) from None
    for view in views:
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        lines = await system_log(client, view.id)
        assert any("stage" in line and "starts" in line for line in lines), lines


@pytest.mark.parametrize("how", ["at-once", "one-after-another"])
async def test_probe_twenty_submissions_all_end(client: NodeClient, how: str) -> None:
    definition = job(run_op("hello", "echo hello", "g"))
    ids: list[str] = []
    try:
        if how == "at-once":
            views = await asyncio.gather(
                *(client.submit(definition, name=f"burst-{i}") for i in range(JOBS))
            )
            ids = [v.id for v in views]
        else:
            for i in range(JOBS):
                ids.append((await client.submit(definition, name=f"burst-{i}")).id)
        assert len(set(ids)) == JOBS
        await probe(client, ids)
    finally:
        for job_id in ids:
            await client.remove(job_id)
