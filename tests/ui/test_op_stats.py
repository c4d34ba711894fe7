"""The job screen against the real agent: each running op's CPU and memory in the ops table (from
the node's stats stream), and ``s``, the shell, refused for an op that does not run and, with no
terminal to lend (Pilot), said so (issue 13). The shell itself is tested in a real terminal in
tests/node/test_exec_stats.py, through the same ``nosana-tui exec`` the UI runs."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from textual.widgets import DataTable

from nosana_tui.api.models import OpStatus
from nosana_tui.client.node import NodeError
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.shell import exec_command
from nosana_tui.ui.widgets.graph import OpGraph
from tests.node.conftest import AgentProcess, job, run_op, wait_for
from tests.pilot import screen_text, until

pytestmark = pytest.mark.anyio


async def test_the_ops_table_shows_cpu_and_memory_of_running_ops(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with agent.client() as client:
        view = await client.submit(
            job(
                run_op("busy", "while :; do :; done", "g"),
                run_op("done", "echo over", "g"),
            )
        )
        try:
            await wait_for(
                client,
                view.id,
                lambda v: (
                    v.op("busy").status is OpStatus.RUNNING
                    and v.op("done").status is OpStatus.FINISHED
                ),
            )
            monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
            app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.client is not None)
                await app.push_screen(JobScreen(view.id))
                screen = app.screen
                assert isinstance(screen, JobScreen)
                table: DataTable[Any] = screen.query_one("#job-ops", DataTable)

                def figures() -> bool:
                    """the busy op's CPU share in the table"""
                    if "cpu" not in table.columns or "busy" not in table.rows:
                        return False
                    return str(table.get_cell("busy", "cpu")).endswith("%")

                await until(pilot, figures, timeout=30)
                cpu = float(str(table.get_cell("busy", "cpu")).rstrip("%"))
                assert cpu > 0
                memory = str(table.get_cell("busy", "mem"))
                assert (
                    memory.split()[-1] in ("B", "KiB", "MiB", "GiB")
                    and float(memory.split()[0]) > 0
                )
                assert str(table.get_cell("done", "cpu")) == "-"  # not running: no figures
                keys = [str(k.value) for k in table.columns]
                assert keys.index("cpu") == keys.index("status") + 1  # beside STATE: seen
                assert "CPU" in screen_text(app) and "MEM" in screen_text(app)  # at 80x24

                # s: a shell only in a running op; Pilot has no terminal to lend it
                graph = screen.query_one(OpGraph)
                graph.focus()
                graph.selected = "done"
                await until(pilot, lambda: screen.selected == "done")
                await pilot.press("s")
                await until(pilot, lambda: _notified(app, "done is finished, not running"))
                graph.selected = "busy"
                await until(pilot, lambda: screen.selected == "busy")
                await pilot.press("s")
                await until(pilot, lambda: _notified(app, "no terminal to hand to a shell"))
                await pilot.press("q")
        finally:
            with contextlib.suppress(NodeError):
                await client.remove(view.id)


def _notified(app: NosanaApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


def test_the_shell_is_the_command_line_s_exec() -> None:
    command = exec_command("http://127.0.0.1:5001", "abc", "web")
    url = "http://127.0.0.1:5001"
    assert command[1:] == ["-m", "nosana_tui", "exec", "--node", url, "abc", "web"]
