"""The Jobs list against the real agent and the real Docker engine, keyboard only, at 80x24:
its order is stable (a new job takes its place at the top instead of landing at the bottom), it
sorts by age, state and name, filters by state, shows age, time and end, and removes every
finished job after asking. Snapshots with real content (a stand-in node with fixed jobs) at
80x24 and 160x48."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from nosana_tui.api.models import (
    Endpoint,
    EndpointStatus,
    Health,
    JobStatus,
    JobView,
    OpStatus,
    OpView,
)
from nosana_tui.client.node import NodeClient, job_done
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens import jobs as jobs_screen
from nosana_tui.ui.screens.jobs import JobsScreen, compact, ordered
from nosana_tui.ui.widgets.confirm import Confirm
from tests.node.conftest import AgentProcess, job, run_op, wait_for
from tests.pilot import screen_text, until
from tests.ui.fakes import FakeClient, attach_node, offline_app, telemetry_none

pytestmark = pytest.mark.anyio


def rows(app: NosanaApp) -> list[str]:
    """The job ids in the table, top to bottom."""
    table: DataTable[Any] = app.screen.query_one("#jobs-table", DataTable)
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


def cursor(app: NosanaApp) -> str:
    table: DataTable[Any] = app.screen.query_one("#jobs-table", DataTable)
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


async def submit(client: NodeClient, name: str, cmd: str) -> str:
    return (await client.submit(job(run_op("main", cmd)), name)).id


def real_app(agent: AgentProcess, monkeypatch: pytest.MonkeyPatch) -> NosanaApp:
    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    return NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)


async def test_a_new_job_takes_its_place_and_the_cursor_stays(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a job submitted while the list was open landed at the bottom (rows were only
    ever appended), and moved to the top at the next start of the UI."""
    monkeypatch.setattr(jobs_screen, "POLL", 0.1)
    async with agent.client() as client:
        first = await submit(client, "first", "sleep 60")
        app = real_app(agent, monkeypatch)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.node_info is not None)
                await pilot.press("2")
                await until(pilot, lambda: rows(app) == [first])
                await asyncio.sleep(0.01)  # a later created_at
                second = await submit(client, "second", "sleep 60")
                await until(pilot, lambda: len(rows(app)) == 2)
                assert rows(app) == [second, first]  # newest first, as at start
                await pilot.press("j")
                assert cursor(app) == first
                third = await submit(client, "third", "sleep 60")
                await until(pilot, lambda: len(rows(app)) == 3)
                assert rows(app) == [third, second, first]
                assert cursor(app) == first  # the cursor stayed on its job
                for _ in range(5):  # and nothing moves between polls
                    await pilot.pause(0.15)
                    assert rows(app) == [third, second, first]
                await pilot.press("q")
        finally:
            for job_id in await client.jobs():
                await client.remove(job_id.id)


async def test_sort_filter_columns_and_remove_finished(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_screen, "POLL", 0.1)
    async with agent.client() as client:
        try:
            ok = await submit(client, "b-ok", "echo fine")
            await wait_for(client, ok, job_done)
            bad = await submit(client, "c-bad", "echo broken; exit 3")
            await wait_for(client, bad, job_done)
            live = await submit(client, "a-live", "sleep 120")
            app = real_app(agent, monkeypatch)
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.node_info is not None)
                await pilot.press("2")
                await until(pilot, lambda: len(rows(app)) == 3)
                assert rows(app) == [live, bad, ok]  # age: newest first
                text = screen_text(app)
                for header in ("AGE", "TIME", "ENDED"):
                    assert header in text, text
                assert "sort age ↓  ·  state all  ·  3 jobs  ·  2 finished" in text, text
                table: DataTable[Any] = app.screen.query_one("#jobs-table", DataTable)
                assert str(table.get_cell(live, "ended")) == "-"
                assert str(table.get_cell(ok, "ended")).count(":") == 2  # HH:MM:SS, today

                await pilot.press("N")  # name
                assert rows(app) == [live, ok, bad]
                await pilot.press("N")  # name, the other way round
                assert rows(app) == [bad, ok, live]
                await pilot.press("S")  # state: running, failed, stopped, success
                assert rows(app) == [live, bad, ok]
                await pilot.press("A")  # age again
                assert rows(app) == [live, bad, ok]
                await pilot.press("s")  # s goes through them: age -> state
                assert app.screen.order == "state"  # type: ignore[attr-defined]

                await pilot.press("f")  # state: running only
                assert rows(app) == [live]
                assert "state running" in screen_text(app)
                await pilot.press("f")  # success only
                assert rows(app) == [ok]
                await pilot.press("f")  # failed only
                assert rows(app) == [bad]
                await pilot.press("f", "f")  # stopped (none), then every job again
                assert len(rows(app)) == 3

                await pilot.press("D")
                await until(pilot, lambda: isinstance(app.screen, Confirm))
                assert "Remove 2 finished jobs" in screen_text(app)
                await pilot.press("n")  # no: nothing goes
                await until(pilot, lambda: isinstance(app.screen, JobsScreen))
                await pilot.pause(0.3)
                assert len(rows(app)) == 3
                await pilot.press("D")
                await until(pilot, lambda: isinstance(app.screen, Confirm))
                await pilot.press("y")
                await until(pilot, lambda: rows(app) == [live], 30)
                assert [j.id for j in await client.jobs()] == [live]
                await pilot.press("D")  # nothing finished is left: it says so
                await pilot.pause(0.1)
                assert not isinstance(app.screen, Confirm)
                await pilot.press("q")
        finally:
            for view in await client.jobs():
                await client.remove(view.id)


def test_the_order_is_total() -> None:
    """Two jobs created in the same instant never swap places: every order ends on the id."""
    a = JobView(id="aaa", name="same", created_at=10.0)
    b = JobView(id="bbb", name="same", created_at=10.0)
    for order in ("age", "state", "name"):
        assert [j.id for j in ordered([a, b], order)] == [j.id for j in ordered([b, a], order)]
    assert compact(42) == "42s" and compact(192) == "3m12s" and compact(3840) == "1h04m"
    assert compact(2 * 86400 + 3 * 3600) == "2d3h"


# --- snapshots with real content --------------------------------------------------------------

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def listed_jobs() -> list[JobView]:
    def op(op_id: str, status: OpStatus, **extra: Any) -> OpView:
        return OpView(id=op_id, index=0, group=op_id, type="container/run", status=status, **extra)

    web = Endpoint(
        op_id="web",
        port=8080,
        host_port=32781,
        url="http://127.0.0.1:32781",
        status=EndpointStatus.ONLINE,
    )
    return [
        JobView(
            id="e53d11d632dd",
            name="busybox-pipeline",
            created_at=NOW - 754,
            ops=[
                op("data", OpStatus.FINISHED, exit_code=0),
                op("web", OpStatus.RUNNING, ready=True, health=Health.HEALTHY, endpoints=[web]),
            ],
        ),
        JobView(
            id="9b0c4f7a2e11",
            name="busybox-hello",
            status=JobStatus.SUCCESS,
            created_at=NOW - 3 * 3600,
            ended_at=NOW - 3 * 3600 + 4,
            ops=[op("hello", OpStatus.FINISHED, exit_code=0)],
        ),
        JobView(
            id="31f8d2c9ab70",
            name="fails.json",
            status=JobStatus.FAILED,
            created_at=NOW - 1800,
            ended_at=NOW - 1795,
            message="op doomed exited with code 3",
            ops=[op("doomed", OpStatus.FAILED, exit_code=3)],
        ),
        JobView(
            id="c2d4e6f80a1b",
            name="vllm-openwebui",
            status=JobStatus.STOPPED,
            created_at=NOW - 2 * 86400,
            ended_at=NOW - 86400 - 7200,
            ops=[op("vllm", OpStatus.STOPPED)],
        ),
    ]


class JobsNode(FakeClient):
    def __init__(self, jobs: list[JobView]) -> None:
        super().__init__(telemetry_none)
        self.listed = jobs

    async def jobs(self) -> list[JobView]:
        self.jobs_calls += 1
        return list(self.listed)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The list's clock stops at NOW and reads UTC: nothing in the picture depends on when or
    where the test runs."""
    clock = SimpleNamespace(
        time=lambda: NOW, strftime=time.strftime, localtime=time.gmtime, gmtime=time.gmtime
    )
    monkeypatch.setattr(jobs_screen, "time", clock)
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")


@pytest.mark.parametrize("size", ((80, 24), (160, 48)), ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("keys", ((), ("S",)), ids=("by-age", "by-state"))
def test_jobs_list_snapshot(
    size: tuple[int, int],
    keys: tuple[str, ...],
    snap_compare: Any,
    tmp_path: Path,
    frozen: None,
) -> None:
    app = offline_app(tmp_path)
    client = JobsNode(listed_jobs())

    async def show(pilot: Pilot[Any]) -> None:
        await attach_node(app, pilot, client)
        await pilot.press("2")
        await until(pilot, lambda: len(rows(app)) == 4)
        await pilot.press(*keys)
        text = screen_text(app)
        assert "busybox-pipeline" in text and "01:07:24" not in text, text
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.parametrize("size", ((80, 24), (160, 48)), ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_endpoint_reads_whole_at_80_columns(
    size: tuple[int, int], tmp_path: Path, frozen: None
) -> None:
    """At 80 columns the ENDPOINTS column started at column 71 and its URL ran off the screen
    (``http://1``): the narrow table leaves the column out and the line under it shows the
    highlighted job's endpoints whole; at 160 the column has room and is there."""
    app = offline_app(tmp_path)
    client = JobsNode(listed_jobs())
    async with app.run_test(size=size) as pilot:
        await attach_node(app, pilot, client)
        await pilot.press("2")
        await until(pilot, lambda: len(rows(app)) == 4)
        await pilot.pause()
        text = screen_text(app)
        assert cursor(app) == "e53d11d632dd"
        assert "http://127.0.0.1:32781" in text, text
        for header in ("AGE", "TIME", "ENDED"):
            assert header in text, text
        if size[0] == 80:
            assert "e53d11d632dd endpoints: http://127.0.0.1:32781 (web)" in text, text
            assert "ENDPOINTS" not in text
            await pilot.press("down")  # fails.json (by age): no endpoint
            await pilot.pause()
            assert "31f8d2c9ab70 endpoints: none" in screen_text(app)
        else:
            assert "ENDPOINTS" in text and "endpoints:" not in text, text
