"""A stage stopped by hand reads ``stopped`` in the graph (issue 13): its ops read ``■ stopped``
in the graph and the ops table, and its header said ``✔ done`` (every op had ended). On the real
agent: a stage of two ``sleep`` ops stopped with ``X`` in the job view; and a stage with one op
finished and one stopped; a stage that ended by itself still reads done."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.widgets.confirm import Confirm
from nosana_tui.ui.widgets.graph import OpGraph, graph_lines
from tests.node.conftest import AgentProcess, job, run_op, wait_for
from tests.pilot import screen_text, until
from tests.ui.test_graph import job as graph_job
from tests.ui.test_graph import plain, with_status

pytestmark = pytest.mark.anyio


def test_a_stage_stopped_by_hand_is_not_done() -> None:
    view = graph_job(("a", []), ("b", []))
    view = with_status(view, "a", status=OpStatus.STOPPED, started_at=1.0, ended_at=2.0)
    view = with_status(view, "b", status=OpStatus.FINISHED, exit_code=0, started_at=1.0)
    lines = plain(graph_lines(view, None))
    assert "■ stopped" in lines[0][1] and "done" not in lines[0][1], lines
    assert dict(lines)["a"].endswith("■ a  stopped")
    view = with_status(view, "a", status=OpStatus.FINISHED, exit_code=0)
    assert "✔ done" in plain(graph_lines(view, None))[0][1]


async def test_stopping_a_stage_in_the_job_view(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with agent.client() as client:
        view = await client.submit(
            job(run_op("one", "sleep 300", "serve"), run_op("two", "sleep 300", "serve"))
        )
        try:
            await wait_for(
                client,
                view.id,
                lambda v: all(o.status is OpStatus.RUNNING for o in v.ops),
            )
            monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
            app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.client is not None)
                screen = JobScreen(view.id)
                await app.push_screen(screen)
                graph = screen.query_one(OpGraph)
                graph.focus()
                await until(pilot, lambda: graph.selected == "one")
                await pilot.press("X")  # stop the selected op's stage
                if await _asked(pilot, app):
                    await pilot.press("y")

                def stopped() -> bool:
                    """both ops stopped, the job with them"""
                    v = screen.view
                    return (
                        v is not None
                        and all(o.status is OpStatus.STOPPED for o in v.ops)
                        and v.status is JobStatus.STOPPED
                    )

                await until(pilot, stopped, timeout=60)
                await until(pilot, lambda: "■ stopped" in dict(graph.lines)[None].plain)
                header = dict(graph.lines)[None].plain
                assert "done" not in header, header
                table: DataTable[Any] = screen.query_one("#job-ops", DataTable)
                for op_id in ("one", "two"):
                    assert "stopped" in str(table.get_cell(op_id, "status"))
                    assert f"■ {op_id}  stopped" in dict(graph.lines)[op_id].plain
                text = screen_text(app)
                assert "✔ done" not in text, text
        finally:
            await client.remove(view.id)


async def _asked(pilot: Any, app: NosanaApp) -> bool:
    """Whether X asks first (a Confirm)."""
    for _ in range(25):
        if isinstance(app.screen, Confirm):
            return True
        await pilot.pause(0.02)
    return False
