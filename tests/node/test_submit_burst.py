"""Issue 13, finding 7: "2 of ~20 submissions stayed 'submitted' for ever with no error,
intermittent". Twenty jobs posted to a real agent at once (and as fast as one client can, one
after another): every one leaves 'submitted' (its op starts, its stage is logged) and ends
well within a bound, none left with every op pending and nothing after "submitted" in its
system log."""

from __future__ import annotations

import asyncio

import pytest

from nosana_tui.api.models import JobStatus, JobView, OpStatus
from nosana_tui.client.node import NodeClient, job_done
from tests.node.conftest import job, run_op, system_log, wait_for

pytestmark = pytest.mark.anyio

JOBS = 20
BOUND = 180  # seconds for all of them, on a busy two-core machine: a stuck one never ends


def left_submitted(view: JobView) -> bool:
    return any(op.status is not OpStatus.PENDING for op in view.ops)


async def check_all(client: NodeClient, ids: list[str]) -> None:
    views = await asyncio.gather(
        *(wait_for(client, job_id, job_done, timeout=BOUND) for job_id in ids)
    )
    stuck = [v.id for v in views if not left_submitted(v)]
    assert not stuck, stuck
    for view in views:
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        lines = await system_log(client, view.id)
        assert any("stage" in line and "starts" in line for line in lines), lines


@pytest.mark.parametrize("how", ["at-once", "one-after-another"])
async def test_twenty_submissions_each_leave_submitted(client: NodeClient, how: str) -> None:
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
        await check_all(client, ids)
    finally:
        for job_id in ids:
            await client.remove(job_id)
