"""The op panel's usage sparklines (issue 13) against the real agent and the real Docker engine:
a busy op (busybox ``while :; do :; done``, for BUSY seconds at most: the machine is shared, and
the op is stopped and removed at the end) gets CPU, memory, network and disk figures from the
node's stats stream, a point a frame, its CPU above 0, drawn as Textual ``Sparkline`` widgets at
80x24; an op that does not run shows none. ``OpHistory`` keeps rates from the totals."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Sparkline

from nosana_tui.api.models import OpStatus, TaskStat
from nosana_tui.client.node import NodeError
from nosana_tui.config import Paths
from nosana_tui.ui import opstats
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.opstats import OpHistory
from nosana_tui.ui.screens import op as op_screen
from nosana_tui.ui.screens.op import OpScreen
from tests.node.conftest import AgentProcess, job, run_op, wait_for
from tests.pilot import screen_text, until
from tests.ui.fakes import freeze_job_clock, offline_app
from tests.ui.test_snapshots_job_view import SIZES, DescribedNode, open_op, running
from tests.ui.test_snapshots_states import NOW

pytestmark = pytest.mark.anyio

BUSY = 30  # seconds the busy op spins at most, whatever becomes of the test
BUSY_LOOP = f"timeout {BUSY} sh -c 'while :; do :; done'"


def stat(ts: int, cpu: float, memory: int, net: int, disk: int) -> TaskStat:
    return TaskStat.model_validate({
        "opId": "busy", "timestamp": ts, "cpu": {"cpu_percent": cpu},
        "memory": {"memory_usage": memory, "memory_limit": 8 << 30, "memory_percent": 0.1},
        "disk": {"read": disk, "write": 0}, "network": {"received": net, "sent": 0},
    })  # fmt: skip


def test_history_keeps_figures_and_rates() -> None:
    history = OpHistory(size=4)
    assert history.add(stat(1000, 50.0, 1 << 20, 0, 0))
    assert not history.add(stat(1000, 50.0, 1 << 20, 0, 0))  # the same sample again
    assert history.add(stat(3000, 99.0, 2 << 20, 4096, 2048))
    assert list(history.cpu) == [50.0, 99.0]
    assert list(history.network) == [2048.0] and list(history.disk) == [1024.0]  # a second
    assert history.add(stat(5000, 1.0, 2 << 20, 0, 0))  # restarted: its totals from 0 again
    assert list(history.network) == [2048.0, 0.0]
    assert history.padded(history.cpu) == [0.0, 50.0, 99.0, 1.0]
    for ts in (7000, 9000, 11000):
        history.add(stat(ts, 2.0, 0, 0, 0))
    assert len(history.cpu) == 4  # at most SIZE


async def test_a_busy_ops_panel_draws_its_cpu_and_memory(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opstats, "STATS_INTERVAL", 1.0)  # the node's shortest
    async with agent.client() as client:
        view = await client.submit(
            job(run_op("busy", BUSY_LOOP, "g"), run_op("done", "echo over", "g"))
        )
        try:
            view = await wait_for(
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
                panel = OpScreen(view.id, "busy", view)
                await app.push_screen(panel)

                def points() -> bool:
                    """three frames of the busy op's figures, its CPU above 0"""
                    return len(panel.history.cpu) >= 3 and max(panel.history.cpu) > 0

                await until(pilot, points, timeout=BUSY - 5)
                await pilot.pause()
                spark = panel.query_one("#op-spark-cpu", Sparkline)
                data: Any = spark.data
                assert len(data) == opstats.HISTORY and max(data) > 0
                assert len([x for x in data if x > 0]) >= 3  # a point a frame, from the right
                assert max(panel.query_one("#op-spark-memory", Sparkline).data or []) > 0
                assert spark.region.width > 10  # on screen, at 80 columns
                text = screen_text(app)
                assert "CPU" in text and "% of a CPU" in text, text
                assert "Memory" in text and "Network" in text and "Disk" in text, text
                assert any(c in text for c in "▂▃▄▅▆▇█"), text

                # an op that has finished: no figures, no usage lines
                await app.pop_screen()
                done = OpScreen(view.id, "done", view)
                await app.push_screen(done)
                await until(pilot, lambda: done.last_lines is not None)
                await pilot.pause()
                assert done.history.last is None and "Usage" not in screen_text(app)
                assert not done.query_one("#op-usage").display
                await pilot.press("q")
        finally:
            with contextlib.suppress(NodeError):  # (it may have ended: BUSY)
                await client.stop_job(view.id)
            await client.remove(view.id)


# --- snapshots: the stand-in node of test_snapshots_job_view, with fixed figures ---------------

FRAMES = 24


def frozen_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """As test_snapshots_job_view's: no node answers, the clocks stop at NOW and read UTC."""
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    freeze_job_clock(monkeypatch, NOW)
    frozen = SimpleNamespace(time=lambda: NOW, strftime=time.strftime, localtime=time.gmtime)
    monkeypatch.setattr(op_screen, "time", frozen)
    monkeypatch.setattr(op_screen, "this_host", lambda: "gpu-box")


class FiguresNode(DescribedNode):
    """The serving job's node, whose stats stream sends FRAMES fixed frames of the vllm op at
    once (two seconds apart by their stamps), then nothing more."""

    async def stats_stream(self, job_id: str, interval: float = 5.0) -> Any:
        for i in range(FRAMES):
            yield [
                stat(int(NOW * 1000) + 2000 * i, 40.0 + 35.0 * math.sin(i / 3), (1 << 30) + i * (8 << 20),
                     i * i * 50_000, i * 400_000)
                .model_copy(update={"op_id": "vllm"})
            ]  # fmt: skip
        await asyncio.Event().wait()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_op_panel_with_its_sparklines(
    size: tuple[int, int], snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_clocks(monkeypatch)
    app = offline_app(tmp_path)
    base = running()
    node = FiguresNode(base, base.job_definition)

    async def show(pilot: Pilot[Any]) -> None:
        panel = await open_op(pilot, app, node, "vllm")

        def drawn() -> bool:
            """every frame's figures in the panel's history"""
            return len(panel.history.cpu) == FRAMES

        await until(pilot, drawn)
        await pilot.pause()
        text = screen_text(app)
        assert "% of a CPU" in text and "of 8.0 GiB" in text and "/s" in text, text

    assert snap_compare(app, terminal_size=size, run_before=show)
