"""Snapshots of the job view's new panes with real content, at 80x24 and 160x48 (issue 13): the
op panel of a failed op (its whole reason, command, env with a secret masked, last lines), of
a serving op (its endpoint and the ``ssh -L`` line beside it) and of an op that never started
(``skipped``); and the all-ops log, each op prefixed in its own colour.

As in ``test_snapshots_states``: the UI is real, the node a stand-in answering with fixed views,
definitions and lines, and the clocks frozen. Review changes with ``pytest --snapshot-update``
only after reading the HTML report.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.pilot import Pilot

from nosana_tui.api.models import SYSTEM, JobView, LogEntry
from nosana_tui.ui.screens import op as op_screen
from nosana_tui.ui.screens.job import ALL_OPS
from nosana_tui.ui.screens.op import OpScreen
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.logview import LogView
from tests.pilot import screen_text, until
from tests.ui.fakes import ScriptedNode, freeze_job_clock, log_entries, offline_app
from tests.ui.test_snapshots_states import (
    NOW,
    failed_node,
    job_shown,
    open_job_screen,
    running_node,
)

SIZES = ((80, 24), (160, 48))
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
LIBRARY = Path(__file__).resolve().parents[2] / "nosana_tui" / "library"
SECRET = "hf_not-for-your-eyes"


@pytest.fixture(autouse=True)
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    freeze_job_clock(monkeypatch, NOW)
    frozen = SimpleNamespace(time=lambda: NOW, strftime=__import__("time").strftime)
    frozen.localtime = __import__("time").gmtime
    monkeypatch.setattr(op_screen, "time", frozen)
    monkeypatch.setattr(op_screen, "this_host", lambda: "gpu-box")


class DescribedNode(ScriptedNode):
    """A scripted node that also serves the job's definition, ends a log read that does not
    follow, and answers every op's lines at once (``op=None``) in the order they were written."""

    def __init__(self, base: ScriptedNode, definition: dict[str, Any]) -> None:
        super().__init__(base.view, base.lines, base.telemetry)
        self.job_definition = definition

    async def definition(self, job_id: str) -> dict[str, Any]:
        return self.job_definition

    async def logs(
        self,
        job_id: str,
        op: str | None = None,
        *,
        after: int = 0,
        follow: bool = False,
        tail: int | None = None,
        **_: Any,
    ) -> Any:
        if op is None:
            entries = sorted(
                (e for lines in self.lines.values() for e in lines), key=lambda e: e.ts
            )
            entries = [e.model_copy(update={"seq": i}) for i, e in enumerate(entries, 1)]
        else:
            entries = self.lines.get(op, [])
        if tail is not None:
            entries = entries[-tail:]
        for entry in entries:
            if entry.seq > after:
                yield entry
        if follow:
            await asyncio.Event().wait()


def pipeline_definition() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LIBRARY / "busybox-pipeline" / "job.json").read_text())
    data["global"]["variables"]["ITEMS"] = "five"
    data["ops"][1]["args"]["env"]["HF_TOKEN"] = SECRET
    return data


def failed() -> DescribedNode:
    node = DescribedNode(failed_node(), pipeline_definition())
    # the reason as the node words a start that failed: longer than any pane but this one
    assert node.view is not None
    producer = node.view.op("producer")
    producer.message = (
        "exited with code 2: ITEMS must be a positive integer, got 'five' "
        "(the last line it wrote to stderr)"
    )
    return node


def running() -> DescribedNode:
    base = running_node()
    definition = {
        "version": "0.1",
        "type": "container",
        "ops": [
            {
                "type": "container/run",
                "id": op.id,
                "args": {"image": op.image or "busybox:1.37"},
                "execution": {"group": op.group, "depends_on": op.depends_on},
            }
            for op in (base.view or JobView(id="x", name="x", created_at=0)).ops
        ],
    }
    vllm = definition["ops"][2]["args"]
    vllm.update(
        cmd=["--model", "/models/llama-3.1-8b", "--port", "8000"],
        env={"HF_TOKEN": SECRET, "VLLM_LOGGING_LEVEL": "INFO"},
        gpu=True,
        volumes=[{"name": "models", "dest": "/models"}],
        expose=[{"port": 8000, "health_checks": [{"type": "http", "path": "/health",
                 "method": "GET", "expected_status": 200, "continuous": True}]}],
    )  # fmt: skip
    return DescribedNode(base, definition)


async def open_op(pilot: Pilot[Any], app: Any, node: DescribedNode, op_id: str) -> OpScreen:
    screen = await open_job_screen(app, pilot, node)
    await job_shown(pilot, screen, node)
    graph = screen.query_one(OpGraph)
    while graph.selected != op_id:
        await pilot.press("down")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, OpScreen))
    panel = app.screen
    assert isinstance(panel, OpScreen)

    def read() -> bool:
        """the definition and the last lines are in"""
        return panel.args is not None and panel.last_lines is not None

    await until(pilot, read)
    await pilot.pause()
    return panel


@size_ids
def test_op_panel_of_a_failed_op(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = failed()

    async def show(pilot: Pilot[Any]) -> None:
        await open_op(pilot, app, node, "producer")
        text = " ".join(screen_text(app).split())  # wrapped and padded values read whole
        assert "State ✖ failed" in text and "Exit code 2" in text
        assert "got 'five' (the last line it wrote to stderr)" in text  # the whole reason
        assert "HF_TOKEN=***" in text and SECRET not in text
        assert "shared → /data" in text

    assert snap_compare(app, terminal_size=size, run_before=show)


@size_ids
def test_op_panel_of_a_serving_op(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = running()

    async def show(pilot: Pilot[Any]) -> None:
        await open_op(pilot, app, node, "vllm")
        text = screen_text(app)
        assert "● http://127.0.0.1:32768  → 8000  online" in text
        assert "ssh -L 32768:127.0.0.1:32768 gpu-box" in text
        assert "HF_TOKEN=***" in text and SECRET not in text
        assert "models → /models" in text

    assert snap_compare(app, terminal_size=size, run_before=show)


@size_ids
def test_op_panel_of_a_skipped_op(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = failed()

    async def show(pilot: Pilot[Any]) -> None:
        await open_op(pilot, app, node, "client")
        text = " ".join(screen_text(app).split())  # wrapped and padded values read whole
        assert "⊘ skipped" in text and "never started: the job failed" in text

    assert snap_compare(app, terminal_size=size, run_before=show)


def all_ops_node() -> DescribedNode:
    node = running()
    ts = NOW - 60
    lines: dict[str, list[LogEntry]] = {SYSTEM: node.lines[SYSTEM]}
    job = node.view.id if node.view else ""
    for op_id, texts, offset in (
        ("vllm", ["INFO: loading weights", "INFO: 200 POST /v1/chat/completions"], 0.1),
        ("openwebui", ["GET / 200", "GET /api/models 200"], 0.4),
        ("metrics", ["scrape vllm:8000/metrics ok"], 0.7),
    ):
        lines[op_id] = log_entries(job, op_id, texts, ts=ts + offset)
    node.lines = lines
    return node


@size_ids
def test_all_ops_log(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = all_ops_node()

    async def show(pilot: Pilot[Any]) -> None:
        screen = await open_job_screen(app, pilot, node)
        await job_shown(pilot, screen, node)
        await pilot.press("a")
        log = screen.query_one(LogView)
        wanted = sum(len(lines) for lines in node.lines.values())

        def drawn() -> bool:
            """every op's lines in the one log"""
            return screen.log_target == ALL_OPS and len(log.lines.lines) == wanted

        await until(pilot, drawn)
        await pilot.pause()
        text = screen_text(app)
        assert "all ops" in text
        # names padded to the longest (fetch-weights), then the line
        assert f"{'vllm':<13} │ INFO: loading weights" in text
        assert f"{'openwebui':<13} │ GET / 200" in text

    assert snap_compare(app, terminal_size=size, run_before=show)
