"""The whole UI against the real agent and the real Docker engine, keyboard only, at 80x24:
deploy the busybox pipeline from Templates, watch every op reach its state in the graph and the
table, read an op's log, stop and restart it, remove the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.logview import LogView
from tests.node.conftest import AgentProcess
from tests.pilot import capture, screen_text, until

pytestmark = pytest.mark.anyio


async def test_deploy_watch_read_restart_remove(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_info is not None)
        await pilot.press("slash", *"busybox-pipeline", "enter")
        await pilot.press("d")  # deploy asks where: the first choice is this node
        await until(pilot, lambda: app.screen.query("#deploy-targets").first().option_count > 0)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await until(pilot, lambda: "esc Back" in screen_text(app).splitlines()[-1])  # drawn
        footer = screen_text(app).splitlines()[-1]
        for shown in ("esc Back", "l Logs", "x Stop", "r Restart", "D Remove"):
            assert shown in footer, footer
        assert "? Help" in footer and "q Quit" in footer, footer  # nothing cut at 80 columns

        def all_ready() -> bool:
            view = screen.view
            return view is not None and all(
                o.ready or o.status is OpStatus.FINISHED for o in view.ops
            )

        await until(pilot, all_ready, timeout=60)
        graph = screen.query_one(OpGraph)
        text = "\n".join(line.plain for _, line in graph.lines)
        assert "web" in text and "running" in text and "finished" in text
        table = screen.query_one("#job-ops")
        assert str(table.get_cell("web", "status")).endswith("running") or "running" in str(
            table.get_cell("web", "status")
        )

        # select the client op in the graph and read its log
        graph.focus()
        while graph.selected != "client":
            await pilot.press("j")
        log = screen.query_one(LogView)
        await until(
            pilot,
            lambda: any("GET http://web:8080" in row for row in log.lines.lines),
            timeout=30,
        )

        # stop and restart it
        await pilot.press("x")
        await until(pilot, lambda: screen.view.op("client").status is OpStatus.STOPPED, 30)  # type: ignore[union-attr]
        await pilot.press("r")
        await until(
            pilot,
            lambda: (
                screen.view.op("client").status is OpStatus.RUNNING  # type: ignore[union-attr]
                and screen.view.op("client").restarts == 1
            ),  # type: ignore[union-attr]
            30,
        )
        assert screen.view is not None and screen.view.status is JobStatus.RUNNING
        job_id = screen.view.id

        # remove the job, confirming
        await pilot.press("D")
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, JobScreen), 30)
        assert app.client is not None
        assert job_id not in {j.id for j in await app.client.jobs()}
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_nodes_gpu_panel_reads_the_real_agent(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The GPU panel through the client layer against the real agent's ``GET /api/gpus``: this
    machine has no GPU, so the panel says so with the agent's own reason and access mode."""
    from nosana_tui.ui.widgets.gpupanel import GpuPanel

    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_info is not None)
        await pilot.press("3")
        panel = app.screen.query_one(GpuPanel)

        def answered() -> bool:
            """the panel has the agent's telemetry"""
            return panel.telemetry is not None

        await until(pilot, answered, 15)
        assert panel.telemetry is not None and panel.error is None
        assert panel.telemetry.source == "none" and panel.telemetry.access == "none"
        text = " ".join(line.plain for line in panel.lines(200))
        assert panel.telemetry.note and panel.telemetry.note in text, text
        assert "access none" in text, text
        # the capture the GPU-host test writes for docs/gpu.md, here on a host without a GPU
        shown = capture(app, tmp_path, "gpu-panel")
        assert "access none" in shown and len(shown.splitlines()) == 24, shown
        assert (tmp_path / "gpu-panel.svg").read_text(encoding="utf-8").startswith("<svg")
        await pilot.press("q")
