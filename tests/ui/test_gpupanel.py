"""The GPU panel draws recorded telemetry at 80x24, and the Nodes screen polls it only while it
is seen: a failing poll is one status line and the poll goes on; leaving the screen stops it.

The telemetry files in ``tests/fixtures/gpu`` are the agent's answers (``GET /api/gpus``), after
the nvidia-smi recordings beside them: an H100 running a training op plus a process of someone
else's, two A10Gs, and a host without a driver.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen

from nosana_tui.api.models import GpuDevice, GpuTelemetry, JobView, OpStatus
from nosana_tui.client.node import NodeError
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens import job as job_screen
from nosana_tui.ui.screens import nodes
from nosana_tui.ui.screens.nodes import NodesScreen
from nosana_tui.ui.settings import NodeEntry
from nosana_tui.ui.themes import builtin_themes_dir, load_themes
from nosana_tui.ui.widgets.gpupanel import GpuPanel, sparkline
from nosana_tui.ui.widgets.nodebar import bar_text, gpu_summary, short_gpu_name
from tests.pilot import until
from tests.ui.fakes import FakeClient, GpuJobClient, gpu_job, node_info, offline_app, open_job

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"


def telemetry(name: str) -> GpuTelemetry:
    data = json.loads((FIXTURES / f"telemetry-{name}.json").read_text(encoding="utf-8"))
    return GpuTelemetry.model_validate(data)


def panel_text(panel: GpuPanel) -> str:
    """What the panel shows on screen, as plain text (its strips, padding included)."""
    width, height = panel.outer_size
    return "\n".join(strip.text for strip in panel.render_lines(Region(0, 0, width, height)))


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield GpuPanel()

    def on_mount(self) -> None:
        themes, _ = load_themes([builtin_themes_dir()])
        for theme in themes:
            self.register_theme(theme)
        self.theme = "nosana-dark"


async def show(data: GpuTelemetry | None, **attributes: Any) -> tuple[str, int]:
    """The panel's text at 80x24 with ``data``, and its height."""
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(GpuPanel)
        panel.node = "local"
        panel.telemetry = data
        for key, value in attributes.items():
            setattr(panel, key, value)
        await pilot.pause()
        assert panel.outer_size.width == 80
        return panel_text(panel), panel.outer_size.height


# --- the panel --------------------------------------------------------------------------------


async def test_h100_shows_name_load_memory_history_and_who_uses_it() -> None:
    data = telemetry("h100")
    assert len(data.history[0].utilization_pct) == 30
    text, height = await show(data)
    lines = text.splitlines()
    assert (
        height == len(lines) == 6
    )  # status, two lines for the GPU, the process header and two rows
    assert all(len(line) <= 80 for line in lines)
    assert "GPUs · local · nvml · access runtime · driver 580.159.04 · CUDA 13.0" in lines[0]
    assert "#0 NVIDIA H100 80GB HBM3" in lines[1]
    assert "util  41%" in lines[1]
    assert "13164/81559 MiB" in lines[2]
    assert "▕█" in lines[2] and "░▏" in lines[2]  # the memory bar
    # the utilisation history: 30 samples, newest last, on a fixed 0-100 scale
    assert lines[1].rstrip().endswith(sparkline(data.history[0].utilization_pct, 100, 30))
    assert "█" in lines[1] and "▁" in lines[1]
    assert lines[3].split() == ["GPU", "PID", "MiB", "JOB", "OP"]
    ours = next(line for line in lines if "412873" in line)
    assert ours.split() == ["0", "412873", "12582", "a1b2c3d4e5f6", "train"]
    theirs = next(line for line in lines if " 2291 " in line)
    assert theirs.split() == ["0", "2291", "582", "-", "-"]  # not one of our ops


async def test_two_gpus_each_get_a_block_and_an_unknown_load_reads_as_such() -> None:
    text, _ = await show(telemetry("2xa10g"))
    lines = text.splitlines()
    assert "nvidia-smi · access passthrough · driver 535.183.01 · CUDA 12.2" in lines[0]
    assert text.count("driver") == 1  # the driver is said once, not per GPU
    assert "#0 NVIDIA A10G" in lines[1] and "util  87%" in lines[1]
    assert "20962/23028 MiB" in lines[2]
    assert "#1 NVIDIA A10G" in lines[3] and "util   ?%" in lines[3]
    assert "  512/23028 MiB" in lines[4]
    assert ["0", "41872", "20450", "0e9d8c7b6a59", "llm-server"] in [ln.split() for ln in lines]
    assert ["1", "42117", "502", "-", "-"] in [ln.split() for ln in lines]


async def test_no_gpu_is_one_calm_line_with_the_note_and_the_access_mode() -> None:
    text, height = await show(telemetry("no-gpu"))
    assert text.strip() == "GPUs · local · no GPU: nvidia-smi not found · access none"
    assert height == 1


async def test_an_error_without_data_is_one_line_and_stale_data_stays_under_a_warning() -> None:
    text, height = await show(None, error="no node answers at http://10.0.0.5:5001")
    assert text.strip() == "GPUs · local · no node answers at http://10.0.0.5:5001"
    assert height == 1
    text, _ = await show(telemetry("h100"), error="the node did not answer in time")
    assert "stale: the node did not answer in time" in text.splitlines()[0]
    assert "#0 NVIDIA H100 80GB HBM3" in text


async def test_many_processes_are_summed_up_in_one_line() -> None:
    data = telemetry("h100")
    one = data.processes[0]
    data.processes = [one.model_copy(update={"pid": 1000 + i, "memory_mb": 100}) for i in range(9)]
    text, _ = await show(data)
    assert "… 4 more processes, 400 MiB" in text
    assert sum(1 for line in text.splitlines() if "train" in line) == 5


async def test_a_narrow_panel_leaves_the_sparklines_out_and_still_fits() -> None:
    from nosana_tui.ui.widgets.gpupanel import panel_lines

    lines = [
        ln.plain for ln in panel_lines(telemetry("h100"), width=40, variables={}, node="local")
    ]
    assert all(cell_len(line) <= 40 for line in lines)
    # the status breaks between its parts, losing none of them
    assert lines[:3] == [
        "GPUs · local · nvml · access runtime",
        "  driver 580.159.04 · CUDA 13.0",
        "#0 NVIDIA H100…  util  41%      ▇██████▄",
    ]
    assert "13164/81559 MiB" in lines[3]
    lines = [
        ln.plain for ln in panel_lines(telemetry("h100"), width=30, variables={}, node="local")
    ]
    assert all(cell_len(line) <= 30 for line in lines)
    gpu_line = next(line for line in lines if line.startswith("#0"))
    assert not any(block in gpu_line for block in "▁▂▃▄▅▆▇")


async def test_a_long_no_gpu_note_wraps_between_parts_at_80_columns() -> None:
    data = telemetry("no-gpu")
    data.note = "no NVIDIA driver found: nvidia-smi is not installed"
    text, height = await show(data)
    assert [line.rstrip() for line in text.splitlines()] == [
        " GPUs · local · no NVIDIA driver found: nvidia-smi is not installed",
        "   access none",
    ]
    assert height == 2


def test_sparkline_scale_and_padding() -> None:
    assert sparkline([0, 50, 100], 100, 5) == "  ▁▅█"
    assert sparkline([99, 10, 20, 30], 80, 3) == "▂▃▄"  # the last three
    assert sparkline([5], 0, 2) == " ▁"
    assert sparkline([1, 2], 10, 0) == ""


# --- the node bar -----------------------------------------------------------------------------


def test_the_node_bar_names_one_gpu_and_averages_several() -> None:
    h100 = telemetry("h100").gpus
    assert short_gpu_name("NVIDIA H100 80GB HBM3") == "H100"
    assert short_gpu_name("NVIDIA GeForce RTX 4090") == "RTX 4090"
    assert gpu_summary(h100) == "1 GPU H100 41% 12.9/79.6 GiB"
    assert gpu_summary(telemetry("2xa10g").gpus) == "2 GPUs avg 87%"
    assert gpu_summary([]) == "no GPU"
    node = NodeEntry("local", "http://127.0.0.1:5001")
    wide = bar_text(node, node_info(h100), None, 160).plain
    assert "docker 27.3.1 · 1 GPU H100 41% 12.9/79.6 GiB · 2 jobs" in wide
    narrow = bar_text(node, node_info(h100), None, 78).plain
    assert len(narrow) <= 78
    assert "docker" not in narrow  # the engine gives way first
    assert narrow.endswith("1 GPU H100 41% 12.9/79.6 GiB · 2 jobs")
    remote = NodeEntry("gpu-box-in-the-lab", "http://10.200.100.50:5001")
    tight = bar_text(remote, node_info(h100), None, 78).plain
    assert len(tight) == 78 and tight.endswith("…")


# --- polling from the Nodes screen ------------------------------------------------------------


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodes, "GPU_POLL", 0.05)
    monkeypatch.setattr(nodes, "GPU_ERROR_POLL", 0.05)
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")


async def _nodes_screen(app: NosanaApp, pilot: Pilot[Any], client: FakeClient) -> NodesScreen:
    await until(pilot, lambda: app.node_error is not None)  # the real connection failed
    app.client = client  # type: ignore[assignment]
    await pilot.press("3")
    await until(pilot, lambda: isinstance(app.screen, NodesScreen))
    assert isinstance(app.screen, NodesScreen)
    return app.screen


@pytest.mark.usefixtures("fast_polls")
async def test_the_nodes_screen_polls_while_seen_and_stops_when_left(tmp_path: Path) -> None:
    data = telemetry("h100")
    data.interval_s = 0.05
    client = FakeClient(lambda: data)
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _nodes_screen(app, pilot, client)
        panel = screen.query_one(GpuPanel)
        await until(pilot, lambda: client.gpu_calls >= 3)
        assert panel.telemetry == data and panel.error is None
        # at 80x24 the node list is still there, and the panel above the footer
        table = screen.query_one("#nodes-table")
        assert table.region.height >= 4
        box = screen.query_one("#gpu-box")
        assert box.region.bottom <= 23 and box.region.height == 7  # border and six lines
        assert "#0 NVIDIA H100 80GB HBM3" in panel_text(panel)

        await pilot.press("2")  # to Jobs: the GPU poll stops
        await until(pilot, lambda: not screen.gpu_polling)
        await app.workers.wait_for_complete()
        calls = client.gpu_calls
        await pilot.pause(0.3)  # six poll intervals
        assert client.gpu_calls == calls

        await pilot.press("3")  # back: it polls again, at once
        await until(pilot, lambda: client.gpu_calls > calls)

        await pilot.press("g")  # hidden: no polls either
        assert not screen.gpu_polling and not screen.query_one("#gpu-box").display
        await app.workers.wait_for_complete()
        calls = client.gpu_calls
        await pilot.pause(0.3)
        assert client.gpu_calls == calls
        await pilot.press("g")
        await until(pilot, lambda: client.gpu_calls > calls)
        assert screen.gpu_polling


@pytest.mark.usefixtures("fast_polls")
async def test_the_gpu_toggle_is_in_the_palette_and_remaps_by_id(tmp_path: Path) -> None:
    client = FakeClient(lambda: telemetry("no-gpu"))
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _nodes_screen(app, pilot, client)
        commands = {c.title: c.help for c in app.get_system_commands(screen)}
        assert commands["GPUs"] == "key: g"
        app.set_keymap({"nodes.gpus": "G"})
        await pilot.press("G")
        assert not screen.query_one("#gpu-box").display and not screen.gpu_polling


@pytest.mark.usefixtures("fast_polls")
async def test_a_failing_poll_is_a_status_line_and_polling_goes_on(tmp_path: Path) -> None:
    failing = [True]

    def answer() -> GpuTelemetry:
        if failing[0]:
            raise NodeError("Not Found (HTTP 404)", 404)
        data = telemetry("no-gpu")
        data.interval_s = 0.05
        return data

    client = FakeClient(answer)
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _nodes_screen(app, pilot, client)
        panel = screen.query_one(GpuPanel)
        await until(pilot, lambda: panel.error is not None)
        await pilot.pause()
        assert panel_text(panel).strip() == (
            "GPUs · local · this agent has no GPU route yet (GET /api/gpus: HTTP 404)"
        )
        assert screen.query_one("#gpu-box").region.height == 2  # the border and one line
        calls = client.gpu_calls
        await until(pilot, lambda: client.gpu_calls >= calls + 2)  # it keeps polling
        assert panel.error is not None and not app.screen.query("Toast")  # no toast per poll
        failing[0] = False  # the agent was updated
        await until(pilot, lambda: panel.telemetry is not None)
        assert panel.error is None
        await pilot.pause()
        assert "no GPU: nvidia-smi not found · access none" in panel_text(panel)


@pytest.mark.usefixtures("fast_polls")
async def test_a_poll_still_in_flight_makes_the_next_tick_skip(tmp_path: Path) -> None:

    release = asyncio.Event()

    class SlowClient(FakeClient):
        async def gpus(self) -> GpuTelemetry:
            self.gpu_calls += 1
            await release.wait()
            return telemetry("h100")

    client = SlowClient(lambda: telemetry("h100"))
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _nodes_screen(app, pilot, client)
        panel = screen.query_one(GpuPanel)
        await until(pilot, lambda: panel.skipped >= 2)
        assert client.gpu_calls == 1  # never two requests at once
        release.set()
        await until(pilot, lambda: panel.telemetry is not None)
        assert "polls skipped (slow answers)" in panel_text(panel).splitlines()[0]


# --- the job screen's GPU column ----------------------------------------------------------------


def test_gpu_memory_is_summed_per_op_of_the_job() -> None:
    data = telemetry("h100")
    job_id = next(p.job_id for p in data.processes if p.job_id)
    op_id = next(p.op_id for p in data.processes if p.job_id)
    extra = data.processes[0].model_copy(
        update={"job_id": job_id, "op_id": op_id, "memory_mb": 100}
    )
    data.processes.append(extra)
    held = job_screen.op_gpu_memory(data, job_id)
    expected = sum(p.memory_mb for p in data.processes if p.job_id == job_id and p.op_id == op_id)
    assert held == {op_id: expected}
    assert job_screen.op_gpu_memory(data, "another-job") == {}


async def settled_calls(pilot: Pilot[Any], client: FakeClient) -> int:
    """The GPU calls once polling has stopped and a poll already under way (a timer that had
    fired) has had ample time to make its call."""
    await pilot.pause(0.25)
    return client.gpu_calls


async def test_a_gpu_job_shows_each_ops_gpu_memory_and_polls_only_while_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, ours, view = gpu_job(monkeypatch, "proxy", "idle-gpu")
    client = GpuJobClient(view, lambda: data)
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_job(app, pilot, client, view.id)
        table = screen.query_one("#job-ops")

        def polled() -> bool:
            """the GPU column has the telemetry's figure"""
            return "gpu" in table.columns and str(table.get_cell(ours.op_id, "gpu")) != "…"

        await until(pilot, polled)
        mib = ours.memory_mb
        expected = f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib} MiB"
        assert str(table.get_cell(ours.op_id, "gpu")) == expected
        assert str(table.get_cell("idle-gpu", "gpu")) == "-"  # a GPU op holding nothing
        assert str(table.get_cell("proxy", "gpu")) == ""  # not a GPU op
        assert [c.label.plain for c in table.columns.values()][2:4] == ["STATE", "GPU MEM"]
        assert str(table.get_cell(ours.op_id, "op")) == ours.op_id  # rows rebuilt with the column
        assert table.columns["gpu"].content_width >= len(expected)  # the figure is not cut

        await app.push_screen(Screen())  # another screen over it: the polls stop
        await until(pilot, lambda: not screen._gpu_polling)
        calls = await settled_calls(pilot, client)
        await pilot.pause(0.3)  # six poll intervals
        assert client.gpu_calls == calls
        app.pop_screen()  # back: they go on
        await until(pilot, lambda: client.gpu_calls > calls)

        ended = [op.model_copy(update={"status": OpStatus.FINISHED}) for op in view.ops]
        screen.apply(view.model_copy(update={"ops": ended}))
        await until(pilot, lambda: not screen._gpu_polling)  # no GPU op may run any more
        calls = await settled_calls(pilot, client)
        await pilot.pause(0.3)
        assert client.gpu_calls == calls
        assert str(table.get_cell(ours.op_id, "gpu")) == expected  # the last figures stay


@pytest.mark.parametrize("delay", [0.2])
async def test_a_node_slower_than_the_poll_interval_still_fills_the_gpu_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delay: float
) -> None:
    """Each poll re-arms the next when it is done, so a slow answer is waited for, never
    cancelled by the next tick."""
    data, ours, view = gpu_job(monkeypatch)
    client = GpuJobClient(view, lambda: data, delay=delay)
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_job(app, pilot, client, view.id)
        table = screen.query_one("#job-ops")
        await until(
            pilot,
            lambda: "gpu" in table.columns and "GiB" in str(table.get_cell(ours.op_id, "gpu")),
        )


async def test_a_job_without_gpu_ops_has_no_gpu_column_and_no_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nosana_tui.api.models import OpView

    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    view = JobView(
        id="cpu-job",
        name="web",
        created_at=time.time(),
        groups=["g"],
        ops=[OpView(id="web", index=0, group="g", type="container/run")],
    )
    client = GpuJobClient(view, lambda: telemetry("h100"))
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_job(app, pilot, client, view.id)
        table = screen.query_one("#job-ops")
        await until(pilot, lambda: "web" in table.rows)
        await pilot.pause(0.2)
        assert "gpu" not in table.columns and client.gpu_calls == 0
        # the one view the node sent fills the row when it is added, not at a later update
        assert (
            str(table.get_cell("web", "op")) == "web" and str(table.get_cell("web", "group")) == "g"
        )


def test_a_gpu_that_reports_no_memory_total_says_so_rather_than_zero() -> None:
    """GB10 (unified memory): nvidia-smi reports [N/A], discovery keeps 0 as "unknown"."""
    from nosana_tui.ui.widgets.gpupanel import panel_lines

    gb10 = GpuDevice(index=0, name="NVIDIA GB10", memory_total_mb=0, utilization_pct=12)
    data = GpuTelemetry(source="nvidia-smi", access="runtime", gpus=[gb10])
    text = "\n".join(line.plain for line in panel_lines(data, width=78, variables={}))
    assert "mem" in text and "not reported" in text and "/0 MiB" not in text
    assert gpu_summary([gb10]) == "1 GPU GB10 12%"
